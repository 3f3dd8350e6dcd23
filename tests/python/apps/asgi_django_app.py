# A minimal Django project in one module for tests/python/asgi_apps_test.cc, served through
# Django's own ASGI handler (django.core.asgi.get_asgi_application): an `async def` view that
# awaits, a sync view (Django runs it in a thread through asgiref), a POST body, a 404.
import asyncio
import json
import os
import threading

from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY='kiln-asgi-test',
        ALLOWED_HOSTS=['*'],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        DATABASES={},
        USE_TZ=True,
    )

from django.core.asgi import get_asgi_application  # noqa: E402
from django.http import HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402


async def async_view(request, name):
    await asyncio.sleep(0.2)
    return JsonResponse({'hello': name, 'async': True, 'pid': os.getpid(),
                         'q': request.GET.get('q')})


def sync_view(request):
    return JsonResponse({'sync': True, 'main_thread': threading.current_thread() is
                         threading.main_thread(), 'method': request.method})


async def echo_view(request):
    data = json.loads(request.body)
    return HttpResponse('got %d keys' % len(data), content_type='text/plain',
                        headers={'X-Echo': 'django'})


urlpatterns = [
    path('hello/<str:name>', async_view),
    path('sync', sync_view),
    path('echo', echo_view),
]

application = get_asgi_application()
