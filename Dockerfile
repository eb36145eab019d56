# cnnlib Studio: the Streamlit app over the cnnlib core.
#   docker build -t cnnlib-studio .                       # CPU image
#   docker build --build-arg TF_VARIANT=and-cuda -t cnnlib-studio:gpu .   # GPU image (run with --gpus all)
#   docker run -p 8501:8501 -v $PWD/runs:/app/runs cnnlib-studio
FROM python:3.11-slim

ARG TF_VARIANT=""
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CNNLIB_RUNS=/app/runs \
    CNNLIB_CACHE=/app/.cache \
    TF_CPP_MIN_LOG_LEVEL=2

WORKDIR /app
# Dependencies first, in their own layer, so a code change does not reinstall TensorFlow.
COPY requirements.txt .
RUN pip install -r requirements.txt \
    && if [ -n "$TF_VARIANT" ]; then \
         pip install "tensorflow[$TF_VARIANT]==$(pip show tensorflow | sed -n 's/^Version: //p')"; \
       fi

# The app, the core and the bundled demo run in assets/ (when present); .dockerignore keeps
# runs, data, tests and caches out.
COPY . .
# Editable, like run.sh: the pages import `app` and the core finds assets/runs beside it.
RUN pip install --no-deps -e .

RUN useradd --create-home studio && mkdir -p /app/runs /app/.cache /app/data && chown -R studio /app/runs /app/.cache /app/data
USER studio

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read() != b'ok')"

CMD ["python", "-m", "streamlit", "run", "streamlit_app.py", "--server.address=0.0.0.0", "--server.port=8501", \
     "--server.headless=true", "--browser.gatherUsageStats=false"]
