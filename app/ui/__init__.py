"""The PySide6 desktop app. Qt lives only in this package; it observes `app.core` results through
Qt signals and never the other way round."""
