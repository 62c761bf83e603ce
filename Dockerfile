FROM python:3.11-slim
WORKDIR /srv
COPY pyproject.toml README.md ./
COPY app ./app
COPY plugins ./plugins
COPY wsgi.py gunicorn.conf.py ./
RUN pip install --no-cache-dir .
EXPOSE 5000
CMD ["gunicorn", "wsgi:app", "--config", "gunicorn.conf.py", "--bind", "0.0.0.0:5000"]
