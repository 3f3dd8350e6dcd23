# URL routes of the example Django project.
from django.urls import path

from . import views

urlpatterns = [
    path('api/v1/health', views.health),
    path('api/v1/echo', views.echo),
    path('api/v1/hello/<str:name>', views.hello),
]
