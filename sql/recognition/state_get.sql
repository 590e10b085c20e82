SELECT value FROM recognition_state WHERE key = %(key)s;
