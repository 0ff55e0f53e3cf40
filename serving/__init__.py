"""The inference service: the champion ONNX model behind a small FastAPI app.

    flightpath serve                                  # uvicorn on settings.serve_host:serve_port
    python -m serving                                 # the same, without the CLI
    curl -s localhost:8000/v1/predict -H 'content-type: application/json' \
      -d '{"carrier":"UA","flight":1545,"origin":"EWR","dest":"IAH","sched_dep_local":"2013-01-01T05:15"}'

It imports neither training/ nor pipelines/: the ONNX file (preprocessing inside the graph) is the
seam. See serving/NOTES.md for the why.
"""
