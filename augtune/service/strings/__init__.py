"""The app's text, one module per language; `augtune.service.i18n` is how it is read."""
