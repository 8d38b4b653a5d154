"""Job handlers, one module per job kind; each module exports `HANDLER = Handler(...)`.

The worker imports every module here (see salesflow.functions.registry). Modules whose name
starts with an underscore are skipped.
"""
