output "kinds" {
  description = "The function kinds (folders)."
  value       = var.manifest.kinds
}

output "streams" {
  description = "Streams: short name => settings."
  value       = var.manifest.streams
}

output "topics" {
  description = "Topics: short name => { fifo }."
  value       = var.manifest.topics
}

output "functions" {
  description = "Functions: short name => settings, environment holding the plain values and the Terraform expressions."
  value = {
    for name, f in var.manifest.functions : name => merge(f, {
      environment = merge(f.environment, lookup(var.terraform_environment, name, {}))
    })
  }

  precondition {
    condition = alltrue([for name, f in var.manifest.functions :
      sort(f.terraform_environment) == sort(keys(lookup(var.terraform_environment, name, {})))
    ])
    error_message = "A function's terraform_environment in pipeline.json must list exactly the names local.terraform_environment in terraform/main.tf gives it a value for."
  }

  precondition {
    condition     = alltrue([for name in keys(var.terraform_environment) : contains(keys(var.manifest.functions), name)])
    error_message = "local.terraform_environment in terraform/main.tf names a function pipeline.json does not have."
  }

  precondition {
    condition = alltrue([for f in values(var.manifest.functions) :
      length(setintersection(keys(f.environment), f.terraform_environment)) == 0
    ])
    error_message = "pipeline.json: a name is either a plain environment value or a terraform_environment one, not both."
  }
}

output "event_source_mappings" {
  description = "Mappings: key => settings, a null maximum_record_age_in_seconds replaced by the stage's."
  value = {
    for key, m in var.manifest.mappings : key => merge(m, {
      maximum_record_age_in_seconds = m.maximum_record_age_in_seconds == null ? var.maximum_record_age_in_seconds : m.maximum_record_age_in_seconds
    })
  }
}
