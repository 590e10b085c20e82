"""The command line, `face-assets` (main.py): its commands and what they print.

  main.py        the argument parser and one `cmd_*` per command
  runner.py      `face-assets run`: materializes the definitions in process, videos in partition ranges
  preflight.py   what a command needs (legacy file, library, model pack, database), one line per problem
  doctor.py      `face-assets doctor`: one table of what the project sees
  summary.py     the report printed after a run; evaluation.py compares it with a truth.json
  review.py      `face-assets review ...`: arguments and printing over face_assets.review
  calibrate.py   `face-assets calibrate`: arguments and printing over face_assets.recognition's calibration
  db.py          `face-assets db ...`: arguments, and `backup`/`restore` printing over face_assets.db.backup
  reembed.py     `face-assets reembed`: changing the database's model (face_assets.recognition.reembed) as runs
  processes.py   stopping `dev` (its process groups) and `serve` (uvicorn) within 10 s of SIGTERM or Ctrl-C

May import everything below it (face_assets.definitions, .defs, .review, the domain packages, .db, .settings); never
face_assets.web, which it starts by its import string (uvicorn), and nothing imports it.
"""
