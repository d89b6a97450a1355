"""The build, delivery and operator tools: lambda_zip (the zip writer), the CI shell steps, installers, the smoke test and
the Lambda invoke helper that the pipeline and developers share."""
