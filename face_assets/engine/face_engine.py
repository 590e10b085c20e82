"""FaceEngine: InsightFace face detection (SCRFD) + ArcFace embeddings, plain code the assets and the web app share.

Its settings are a pydantic model whose defaults come from the environment; face_assets.defs.faces.resources wraps it
as the Dagster resource. The ONNX sessions behind it are built once per process (face_assets.engine.models).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel, Field, PrivateAttr

from face_assets import settings
from face_assets.engine.models import FaceEngineError, ModelKey, Models, load_models, resolve_model_dir
from face_assets.engine.providers import onnxruntime_version, provider_options, select_providers

# The second detection pass ("no face left behind"): an image in which the first pass (the detector at det_size,
# as the pipeline runs it) finds no face is tried again with each of these in turn, until one finds a face. Each is
# (border added around the image as a share of its longer side, detector input size as a multiple of det_size,
# mirrored). Cheapest and most often right first: a border (a face cropped tight to the picture lacks the context the
# detector's anchors expect), a smaller input (a face too large for the largest anchors), a larger input (the image
# upscaled: a small face grows past the smallest anchors), then the mirror image of each (SCRFD is not symmetric: a
# profile turned one way is found where its mirror is not). The detection score threshold stays det_threshold.
# Measured on lfw_dev (README, Calibration): what the second pass recovers, and that the faces it finds are the
# labelled people.
SECOND_PASS: tuple[tuple[float, float, bool], ...] = (
    (0.25, 1.0, False),
    (0.0, 0.5, False),
    (0.25, 0.5, False),
    (0.0, 0.75, False),
    (0.0, 1.5, False),
    (0.0, 2.0, False),
    (0.0, 1.0, True),
    (0.25, 1.0, True),
    (0.0, 0.5, True),
    (0.0, 1.5, True),
)
# Landmark order of a mirrored face: the left eye becomes the right one, the mouth corners swap, the nose stays.
_MIRROR_KPS = np.array([1, 0, 2, 4, 3])


T = TypeVar("T")
_END = object()


@dataclass(frozen=True, eq=False)
class DetectedFace:
    """One face in one image. Arrays are read-only; `eq=False` because arrays have no boolean `==`."""

    bbox: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels of the original image (not clipped)
    det_score: float
    kps: np.ndarray  # (5, 2) float32: eyes, nose, mouth corners
    embedding: np.ndarray  # (512,) float32, L2-normalised: cosine similarity is a dot product
    second_pass: bool = False  # found by FaceEngine.second_pass (the first pass found no face in the image)


class FaceEngine(BaseModel):
    """Face detection (SCRFD) and 512-d ArcFace embeddings from an InsightFace model pack.

    Defaults come from the environment (face_assets.settings): FACE_ASSETS_MODEL, FACE_ASSETS_MODEL_ROOT,
    FACE_ASSETS_PROVIDERS, FACE_ASSETS_HOME.
    """

    model_name: str = Field(default_factory=settings.model_name, description="InsightFace pack name, or a pack folder")
    model_root: str = Field(
        default_factory=settings.model_root, description="InsightFace root; the pack is <root>/models/<name>/"
    )
    providers: str = Field(
        default_factory=settings.providers, description="`auto` or comma-separated ONNX Runtime providers"
    )
    det_size: int = Field(default=640, description="Detector input size (square), in pixels")
    det_threshold: float = Field(default=0.5, description="Minimum detection score")
    device_id: int = Field(default=0, description="GPU index for ROCm / MIGraphX / CUDA")
    migraphx_fp16: bool = Field(default=True, description="Let MIGraphX run in fp16")
    migraphx_cache_path: str | None = Field(
        default_factory=lambda: str(settings.home() / "migraphx_cache"),
        description="Where MIGraphX keeps compiled programs (ONNX Runtime >= 1.23); None disables the cache",
    )
    intra_op_threads: int = Field(
        default=0,
        description="ONNX Runtime intra-op threads; 0 = 1 when frames run in parallel (frame_workers > 1), else "
        "ONNX Runtime's default",
    )
    frame_workers: int = Field(
        default=0,
        description="Threads that one detect() call spreads its frames and faces over (ONNX Runtime releases the "
        "GIL; one session serves all threads); 0 = one per CPU core (at most 4) on the CPU provider, 1 on a GPU. "
        "benchmarks/: detect_faces measured 2 workers x 1 intra-op thread 1.7x the per-frame FaceAnalysis baseline "
        "on 2 cores, one worker with 2 intra-op threads 1.3x",
    )
    allow_spinning: bool = Field(
        default=False,
        description="Let idle ONNX Runtime threads spin (busy-wait). Off: on a CPU shared with PostgreSQL, video "
        "decoding and other steps, spinning threads take cores from them (benchmarks/: detect_faces with 2 "
        "intra-op threads under load ~4-6 measured 2.7x the per-frame FaceAnalysis baseline without spinning, 1.3x "
        "with it; on a quiet machine both ~1.2x)",
    )
    recognition_batch_size: int = Field(default=64, description="Aligned faces per recognition call")

    _key: ModelKey | None = PrivateAttr(default=None)
    _second_passes: int = PrivateAttr(default=0)

    # --- loading ---

    def _model_key(self) -> ModelKey:
        if self._key is None:
            import onnxruntime

            model_dir = resolve_model_dir(self.model_name, self.model_root)
            try:
                chosen = select_providers(self.providers, onnxruntime.get_available_providers())
            except ValueError as exc:
                raise FaceEngineError(str(exc)) from exc
            options = provider_options(
                chosen,
                device_id=self.device_id,
                migraphx_fp16=self.migraphx_fp16,
                migraphx_cache_path=self.migraphx_cache_path,
            )
            for opts in options:
                if "migraphx_model_cache_dir" in opts:
                    Path(opts["migraphx_model_cache_dir"]).mkdir(parents=True, exist_ok=True)
            intra_op = self.intra_op_threads or (1 if self._workers_for(chosen) > 1 else 0)
            self._key = ModelKey(
                model_dir=str(model_dir),
                providers=tuple(chosen),
                options=tuple(tuple(sorted(o.items())) for o in options),
                intra_op_threads=intra_op,
                allow_spinning=self.allow_spinning,
                det_size=self.det_size,
                det_threshold=self.det_threshold,
            )
        return self._key

    def _models(self) -> Models:
        return load_models(self._model_key())

    def _workers_for(self, providers: Sequence[str]) -> int:
        if self.frame_workers > 0:
            return self.frame_workers
        if list(providers) != ["CPUExecutionProvider"]:
            return 1  # a GPU runs one frame at a time best; CPU threads would only queue behind it
        return max(1, min(4, os.cpu_count() or 1))

    @property
    def effective_frame_workers(self) -> int:
        """Threads that detect() spreads one call's frames over (see `frame_workers`)."""
        return self._workers_for(self._model_key().providers)

    def load(self) -> None:
        """Build (or fetch from the process cache) the sessions now, e.g. to fail fast before a long run."""
        self._models()

    @property
    def active_providers(self) -> list[str]:
        """The providers the ONNX Runtime sessions actually use (ONNX Runtime may drop ones that failed)."""
        return list(self._models().active_providers)

    @property
    def effective_recognition_batch_size(self) -> int:
        """`recognition_batch_size`, or 1 for recognizers whose output depends on the batch (see _BATCH_COUPLED_OPS)."""
        return 1 if self._models().batch_coupled else max(1, self.recognition_batch_size)

    def model_info(self) -> dict[str, Any]:
        """JSON-friendly description of the loaded models, for asset metadata."""
        models = self._models()
        key = self._model_key()
        return {
            "name": self.model_name,
            "root": self.model_root,
            "model_dir": key.model_dir,
            "providers": list(models.active_providers),
            "det_size": self.det_size,
            "det_threshold": self.det_threshold,
            "detector": Path(models.detector.model_file).name,
            "recognizer": Path(models.recognizer.model_file).name,
            "embedding_dim": int(models.recognizer.output_shape[-1]),
            "recognition_batch_size": self.effective_recognition_batch_size,
            "frame_workers": self.effective_frame_workers,
            "intra_op_threads": key.intra_op_threads,
            "onnxruntime": onnxruntime_version(),
        }

    # --- inference ---

    def detect(self, images: Sequence[np.ndarray]) -> list[list[DetectedFace]]:
        """Faces in each BGR image, with embeddings; one list per input image, in input order.

        Detection runs image by image (the detector takes one image); recognition runs on the aligned faces of
        all images together, `effective_recognition_batch_size` at a time. With `effective_frame_workers` > 1 both
        steps are spread over that many threads, one image or one batch of faces at a time (a worker takes the
        next as soon as it is free: frames with many faces do not hold the others up).
        """
        images = list(images)
        workers = self.effective_frame_workers
        if workers <= 1 or not images:
            found = [self._find_faces(image) for image in images]
            embeddings = self._embed([crop for faces in found for *_, crop in faces])
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="face_engine") as pool:
                found = list(pool.map(self._find_faces, images))
                embeddings = self._embed([crop for faces in found for *_, crop in faces], pool)
        result: list[list[DetectedFace]] = []
        row = 0
        for faces in found:
            out = []
            for box, score, kps, _ in faces:
                kps.setflags(write=False)
                out.append(
                    DetectedFace(bbox=tuple(float(v) for v in box), det_score=score, kps=kps, embedding=embeddings[row])
                )
                row += 1
            result.append(out)
        return result

    def detect_stream(
        self,
        items: Iterable[T],
        images: Callable[[T], Sequence[np.ndarray] | None] | None = None,
        ahead: int = 2,
    ) -> Iterator[tuple[T, list[list[DetectedFace]]]]:
        """`detect` over a stream of image lists (a run's videos, each its sampled frames): (item, faces per image)
        in input order, `images(item)` being the item's images (default: the item itself; None: no images).

        The workers never wait for the caller: while it stores one item's faces, the frames of the next `ahead`
        items are already queued, and each worker takes the next frame as soon as it is free, detecting and embedding
        its faces (one task per frame, the raw model limit's unit of work). `detect` called item by item leaves
        workers idle at every item's end (the last frames of a video, then its faces, on fewer workers than there
        are) and while the caller decodes and stores (benchmarks/: detect_faces.limit). Items are pulled from
        `items` `ahead` in advance. Faces are the same as `detect`'s; an inference error is raised when its item's
        turn comes.
        """
        get = images or (lambda item: item)
        workers = self.effective_frame_workers
        if workers <= 1:
            for item in items:
                yield item, self.detect(list(get(item) or []))
            return
        window: deque[tuple[T, list[Future]]] = deque()
        source = iter(items)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="face_engine") as pool:
            try:
                while True:
                    while len(window) <= ahead:  # the current item and `ahead` more queued
                        item = next(source, _END)
                        if item is _END:
                            break
                        window.append((item, [pool.submit(self._frame_faces, im) for im in (get(item) or [])]))
                    if not window:
                        return
                    item, futures = window.popleft()
                    yield item, [future.result() for future in futures]
            finally:  # the caller stopped early or an error: drop what is still queued
                for _, futures in window:
                    for future in futures:
                        future.cancel()

    def _frame_faces(self, image: np.ndarray) -> list[DetectedFace]:
        """One image's faces, detected and embedded on the calling thread."""
        found = self._find_faces(image)
        embeddings = self._embed([crop for *_, crop in found])
        out = []
        for (box, score, kps, _), emb in zip(found, embeddings):
            kps.setflags(write=False)
            out.append(DetectedFace(bbox=tuple(float(v) for v in box), det_score=score, kps=kps, embedding=emb))
        return out

    def detect_pictures(self, images: Sequence[np.ndarray]) -> list[list[DetectedFace]]:
        """Like `detect`, for photos (profile pictures, reference images, calibration photos, a photo searched by):
        the first pass is `detect` itself, unchanged; an image in which it finds no face gets the second pass
        (`second_pass`) before it counts as "no face". An image with a face never runs the second pass."""
        results = self.detect(images)
        for index, faces in enumerate(results):
            if not faces:
                results[index] = self.second_pass(images[index])
        return results

    def second_pass(self, image: np.ndarray) -> list[DetectedFace]:
        """The faces of one image the first pass found none in: SECOND_PASS's attempts in turn (a border, smaller
        and larger detector inputs, the mirror image), the faces of the first attempt that finds any (boxes and
        landmarks in the original image's pixels, landmarks in the usual order; each face aligned on the image
        itself, so its embedding is what the first pass would have given had it found that face)."""
        self._second_passes += 1  # a statistic (a lost increment between threads costs nothing)
        for pad, size, mirror in self.second_pass_attempts:
            if pad == 0 and size == self.det_size and not mirror:
                continue  # the first pass
            found = self._find_faces(image, size, pad, mirror)
            if found:
                embeddings = self._embed([crop for *_, crop in found])
                out = []
                for (box, score, kps, _), emb in zip(found, embeddings):
                    kps.setflags(write=False)
                    out.append(
                        DetectedFace(
                            bbox=tuple(float(v) for v in box), det_score=score, kps=kps, embedding=emb, second_pass=True
                        )
                    )
                return out
        return []

    @property
    def second_pass_attempts(self) -> list[list]:
        """SECOND_PASS as (border, detector input size in pixels, mirrored), e.g. for cache keys."""
        return [
            [pad, max(32, int(round(self.det_size * scale / 32)) * 32), mirror] for pad, scale, mirror in SECOND_PASS
        ]

    @property
    def second_passes(self) -> int:
        """How many images this engine has given the second pass (`second_pass`) so far."""
        return self._second_passes

    def _find_faces(
        self, image: np.ndarray, size: int | None = None, pad: float = 0.0, mirror: bool = False
    ) -> list[tuple[np.ndarray, float, np.ndarray, np.ndarray]]:
        """(box, score, landmarks, aligned crop) of each face the detector finds in one image; `size`: another
        detector input size, `pad`: a border of that share of the longer side added around the image, `mirror`:
        the detector looks at the mirror image (boxes and landmarks stay in the original image's pixels, the
        landmarks in their usual order, and the crop is aligned on the image itself)."""
        import cv2
        from insightface.utils import face_align

        models = self._models()
        crop_size = int(models.recognizer.input_size[0])
        bgr = _as_bgr(image)
        border = int(round(pad * max(bgr.shape[:2])))
        if border:
            bgr = cv2.copyMakeBorder(bgr, border, border, border, border, cv2.BORDER_REPLICATE)
        probe = cv2.flip(bgr, 1) if mirror else bgr
        kwargs = {} if size is None or size == self.det_size else {"input_size": (int(size), int(size))}
        boxes, kpss = models.detector.detect(probe, max_num=0, metric="default", **kwargs)
        faces = []
        width = bgr.shape[1]
        for i in range(boxes.shape[0]):
            kps = kpss[i].astype(np.float32)
            box = boxes[i, :4].copy()
            if mirror:  # back to the image's own pixels: x -> width - 1 - x, left and right swapped
                kps = kps[_MIRROR_KPS].copy()
                kps[:, 0] = width - 1 - kps[:, 0]
                box[[0, 2]] = width - 1 - box[[2, 0]]
            crop = face_align.norm_crop(bgr, landmark=kps, image_size=crop_size)
            faces.append((box - border, float(boxes[i, 4]), kps - border, crop))
        return faces

    def embed_crops(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """(n, 512) L2-normalised embeddings of faces already aligned to the recognizer's input size."""
        return self._embed(list(crops))

    def _embed(self, crops: list[np.ndarray], pool: ThreadPoolExecutor | None = None) -> np.ndarray:
        models = self._models()
        dim = int(models.recognizer.output_shape[-1])
        if not crops:
            return np.zeros((0, dim), dtype=np.float32)
        chunks = _chunks(crops, self.effective_recognition_batch_size)
        feats = list(pool.map(models.recognizer.get_feat, chunks) if pool else map(models.recognizer.get_feat, chunks))
        emb = np.concatenate(feats, axis=0).astype(np.float32, copy=False)
        emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        emb.setflags(write=False)
        return emb


def _chunks(items: list[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _as_bgr(image: np.ndarray) -> np.ndarray:
    """3-channel uint8 BGR; grey and BGRA images (e.g. PNG profile pictures) are converted."""
    import cv2

    if image is None or not isinstance(image, np.ndarray) or image.size == 0:
        raise ValueError("expected a non-empty image array")
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise ValueError(f"expected an HxW, HxWx3 or HxWx4 image, got shape {image.shape}")
