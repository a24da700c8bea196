"""Video in, video out: streaming decoding and encoding (io), optical flow and temporal consistency (flow),
and the frame loop with resuming (stream). Uses core/ and the products' public functions only; PyAV and
OpenCV come with the extra `pip install -e ".[video]"`. Importing this package imports neither."""
