# One image for every tickvault service: the command picks the service
# (tickvault db upgrade, tickvault-collector, tickvault-writer, tickvault-api, tickvault-replay).
# PYTHON_IMAGE: another base with python/pip on PATH (scripts/build-standins.sh builds one
# from Debian's packages where registries cannot be reached).
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/tickvault

# Dependencies first, in a layer of their own: it is rebuilt only when pyproject.toml changes,
# not on every source edit. The list is read from pyproject.toml, so it is never duplicated.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the source, installed without touching the dependency layer.
COPY README.md ./
COPY shared ./shared
COPY services ./services
RUN pip install --no-deps . \
    && rm -rf build ./*.egg-info \
    && useradd --system --create-home --uid 10001 --shell /usr/sbin/nologin tickvault

USER tickvault
WORKDIR /home/tickvault

# Inside a container the API must listen on every interface; compose publishes it via the proxy.
ENV TICKVAULT_API_BIND=0.0.0.0:8000
EXPOSE 8000 9101 9102 9443

CMD ["tickvault", "--help"]
