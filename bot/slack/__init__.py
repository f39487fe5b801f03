"""The Slack adapter: Bolt listeners, a pure Block Kit renderer and button payloads.

Imports ``bot.domain`` (and the shared metrics) only; the composition root (``bot.web``,
``bot.cli.serve``) hands it a ``Services`` object built from the runtime.
"""
