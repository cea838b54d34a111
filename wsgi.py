"""What gunicorn and ``flask --app wsgi`` load."""

from moderation import create_app

app = create_app()
