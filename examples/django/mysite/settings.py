# Settings of the example Django project: no database, no templates; enough for JSON views.
import os

SECRET_KEY = os.environ.get('DJANGO_SECRET_KEY', 'kiln-example-not-secret')
DEBUG = False
ALLOWED_HOSTS = ['*']
ROOT_URLCONF = 'mysite.urls'
INSTALLED_APPS = []
MIDDLEWARE = ['django.middleware.common.CommonMiddleware']
DATABASES = {}
USE_TZ = True
DEFAULT_CHARSET = 'utf-8'
