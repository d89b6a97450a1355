"""The project's own tools, in one folder: the build (build.py, lambda_zip.py), the CI shell steps and installers,
the smoke test, the hand upload and the Lambda invoke helper that the pipeline and developers share."""
