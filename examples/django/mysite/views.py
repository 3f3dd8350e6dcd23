# Views of the example Django project: health, a JSON echo and unicode in the path.
import json

from django.http import HttpResponseBadRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt


def health(request):
    return JsonResponse({'status': 'ok', 'framework': 'django'})


@csrf_exempt
def echo(request):
    if request.method != 'POST':
        return HttpResponseBadRequest('POST a JSON body')
    try:
        data = json.loads(request.body)
    except ValueError:
        return HttpResponseBadRequest('not JSON')
    return JsonResponse({'received': data, 'bytes': len(request.body)})


def hello(request, name):
    return JsonResponse({'greeting': 'Hallo, %s' % name,
                         'script_name': request.META.get('SCRIPT_NAME', ''),
                         'path': request.path})
