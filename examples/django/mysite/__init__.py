# A minimal Django project served by kiln: `module = mysite.wsgi:application` with
# `chdir = examples/django`.
