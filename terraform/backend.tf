# State. With no backend block, Terraform keeps local state: that is what `validate`,
# checkov and the local rehearsal (which passes -state into a temp folder) use.
#
# A real account keeps state in S3, locked. Enable it without editing this file by
# copying the override, then initialise with the stage's backend settings:
#
#   cp environments/backend_override.tf.example backend_override.tf
#   terraform init -backend-config=environments/backend-qa.hcl
#
# backend_override.tf only adds `terraform { backend "s3" {} }`; the settings (bucket,
# key per stage, region, `use_lockfile = true`) live in environments/backend-<stage>.hcl,
# made from environments/backend.hcl.example. See README.md, "Remote state".
