"""The app: labs registry, Session (cursor, history, commands), the worker process, the window."""
