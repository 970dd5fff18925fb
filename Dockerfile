# marketcast: the HTTP service (`docker run IMAGE`) and the command line (`docker run IMAGE marketcast ...`).
# Build it with `make image`: it first puts every wheel the image needs into build/wheelhouse on the host
# (deps/: torch==2.13.0's CPU build, never a CUDA one, and the rest; app/: marketcast's own, with its compiled
# kernels), so the build installs with --no-index and needs neither a package index nor the host's certificates.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# --- deps: a virtual environment with the dependencies (cached while the wheels stay the same) -------------------
FROM ${BASE_IMAGE} AS deps
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY build/wheelhouse/deps /wheels
COPY build/wheelhouse/stripped /stripped
RUN python3 -m venv /opt/marketcast \
 && /opt/marketcast/bin/pip install --no-index --find-links /wheels /wheels/*.whl \
 && site=/opt/marketcast/lib/python3.11/site-packages \
 && test -d "$site/torch" -a -d "$site/pyarrow" \
 # libtorch_cpu.so without its debugging symbols, from the same wheel (make wheelhouse), where the host stripped it
 && cp -a /stripped/. "$site"/ \
 # C++ headers, cmake files, test binaries and test suites serve building and testing the packages, not running
 # them (torch.testing._internal stays: torch.utils.checkpoint imports it)
 && rm -rf "$site/torch/include" "$site/torch/share/cmake" "$site/torch/test" \
 && find "$site/torch/bin" -type f ! -name torch_shm_manager -delete \
 # pyarrow's Arrow Flight RPC and S3 file system: optional modules (pyarrow.fs imports S3 only if present)
 && rm -rf "$site"/pyarrow/include "$site"/pyarrow/src "$site"/pyarrow/*flight* "$site"/pyarrow/*s3* \
           "$site"/pyarrow/_pyarrow_cpp_tests* \
 && find "$site" -depth -type d \( -name tests -o -name benchmarks \) -exec rm -rf {} + \
 && find "$site" -type f \( -name '*.pyi' -o -name '*.pyx' -o -name '*.pxd' \) -delete

# --- app: marketcast itself, on top ----------------------------------------------------------------------------
FROM deps AS app
COPY build/wheelhouse/app /app
RUN /opt/marketcast/bin/pip install --no-index --no-deps /app/*.whl \
 && /opt/marketcast/bin/pip check \
 && /opt/marketcast/bin/marketcast --version \
 # what the trimming above must not have broken: torch's optimiser (imports torch._dynamo), pyarrow's formats
 && /opt/marketcast/bin/python -c "import torch, pyarrow.fs, pyarrow.parquet, pyarrow.dataset, xgboost, prophet; \
torch.optim.Adam([torch.zeros(1, requires_grad=True)]); import marketcast.models._lstm_kernel" \
 # what the wheel added, laid out to be copied over the environment in one layer
 && mkdir -p /staging/bin /staging/lib/python3.11/site-packages \
 && cp -a /opt/marketcast/bin/marketcast /staging/bin/ \
 && cp -a /opt/marketcast/lib/python3.11/site-packages/marketcast \
          /opt/marketcast/lib/python3.11/site-packages/marketcast-*.dist-info /staging/lib/python3.11/site-packages/

# --- the environment without pip ---------------------------------------------------------------------------------
FROM deps AS runtime-deps
RUN /opt/marketcast/bin/pip uninstall --yes --quiet pip

# --- the image: the environment, a non-root user, nothing else ---------------------------------------------------
FROM ${BASE_IMAGE}
# libgomp1: the OpenMP runtime of xgboost and of marketcast's kernels (the Debian base has it already).
RUN if ! ldconfig -p | grep -q 'libgomp.so.1 '; then \
      apt-get update && apt-get install -y --no-install-recommends libgomp1 && rm -rf /var/lib/apt/lists/*; \
    fi \
 && useradd --uid 10001 --no-log-init --user-group --home-dir /var/lib/marketcast --create-home \
      --shell /usr/sbin/nologin marketcast
COPY --from=runtime-deps /opt/marketcast /opt/marketcast
COPY --from=app /staging/ /opt/marketcast/
COPY deploy/docker/entrypoint.sh /usr/local/bin/marketcast-entrypoint
ENV PATH=/opt/marketcast/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MARKETCAST_HOST=0.0.0.0 \
    MARKETCAST_PORT=8000 \
    MARKETCAST_SERVICE_DIR=/var/lib/marketcast/service \
    MARKETCAST_STORE=/var/lib/marketcast/marketcast.duckdb \
    MPLCONFIGDIR=/tmp/matplotlib
USER 10001:10001
WORKDIR /var/lib/marketcast
VOLUME ["/var/lib/marketcast"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('MARKETCAST_PORT', '8000'), timeout=4)"]
ENTRYPOINT ["marketcast-entrypoint"]
CMD []
