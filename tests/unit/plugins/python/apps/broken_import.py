# A module whose import fails, for the "import failure is a clear startup error" tests.
import this_module_does_not_exist_anywhere  # noqa: F401

application = None
