# Local rehearsal against a moto server (test/infra/test_terraform.py). Same root
# module and the QA settings, minus what moto cannot do or would make slow. Pass
# the endpoint on the command line or as TF_VAR_aws_endpoint_url, e.g.
#   terraform plan -var-file=environments/qa.tfvars -var-file=environments/local.tfvars \
#     -var aws_endpoint_url=http://127.0.0.1:5000
aws_region = "us-east-1"

# An RDS instance costs minutes of provider waits against moto; the VPC, security
# groups and endpoint are still created, and the database functions still run in it.
create_database = false

# moto does not return a function's LoggingConfig: with it set, every plan would
# show a change and the "no changes" re-plan could never pass.
enable_lambda_logging_config = false

# One log group created here and subscribed, so the subscription filter, its Lambda
# permission and log_source's async on-failure queue are rehearsed.
log_subscriptions = {
  "/event-pipeline/rehearsal/checkout-api" = {
    filter_pattern   = "?ERROR ?WARN ?CRITICAL"
    create_log_group = true
  }
}
