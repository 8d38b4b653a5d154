"""Job kinds for the worker tests, loaded with `salesflow worker --handlers tests.job_handlers.<name>`.

They write to tables the tests create in their own database clone (see tests/test_worker.py).
"""
