"""What gunicorn and ``flask --app wsgi`` load."""

import gc

from moderation import create_app

app = create_app()

# Everything loaded so far (Flask, SQLAlchemy, the app) lives as long as the process. Moving it
# out of the garbage collector's sight keeps each collection to what requests allocate: without
# this, the full collections that a request's many small objects set off scanned the whole
# heap and took a quarter of a worker's time under load (see docs/performance.md).
gc.freeze()
