/* SPDX-License-Identifier: MIT */
/* Test plugin: mimics a uWSGI plugin file (exports `python39_plugin`, mentions uwsgi) so the
 * loader's "a uWSGI plugin, not a kiln plugin" message can be tested without uWSGI. */
struct fake_uwsgi_plugin {
  const char *name;
  const char *origin;
};

__attribute__((visibility("default"))) struct fake_uwsgi_plugin python39_plugin = {
    "python", "uwsgi_plugin built for struct uwsgi_server"};
