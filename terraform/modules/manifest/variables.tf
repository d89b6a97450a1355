# The pipeline's topology as pipeline.json declares it, typed: a field missing from an entry, or
# of the wrong type, fails the plan here, naming the entry and the field. Fields pipeline.json
# holds for other readers (its "local" section, "$comment") are dropped by the conversion.
variable "manifest" {
  description = "jsondecode(file(\"pipeline.json\")): kinds, streams, topics, functions, mappings."
  type = object({
    kinds   = list(string)
    streams = map(object({}))
    topics  = map(object({ fifo = bool }))
    functions = map(object({
      kind                  = string
      description           = string
      memory_size           = number
      timeout               = number
      database              = bool
      db_user               = string
      stream_env            = map(string)
      topic_env             = map(string)
      environment           = map(string)
      terraform_environment = list(string)
      function_url          = bool
      async                 = bool
      dead_letters          = bool
    }))
    mappings = map(object({
      function                           = string
      stream                             = string
      batch_size                         = number
      maximum_batching_window_in_seconds = number
      parallelization_factor             = number
      maximum_retry_attempts             = number
      maximum_record_age_in_seconds      = number
      bisect_batch_on_function_error     = bool
      report_batch_item_failures         = bool
      tumbling_window_in_seconds         = number
      starting_position                  = string
      starting_position_timestamp        = string
    }))
  })

  # The type above makes every field required, but a JSON null converts to any type: without these
  # checks a "batch_size": null would reach the provider, which would put its own default in its
  # place. Only a function's db_user (no login role of its own) and a mapping's
  # maximum_record_age_in_seconds (the stage's), tumbling_window_in_seconds (no window) and
  # starting_position_timestamp (not AT_TIMESTAMP) may be null.
  validation {
    condition = alltrue(flatten([for f in values(var.manifest.functions) : [
      for k, v in f : v != null if k != "db_user"
    ]]))
    error_message = "pipeline.json: ${join(", ", flatten([for name, f in var.manifest.functions : [for k, v in f : "function ${name}: ${k}" if v == null && k != "db_user"]]))} must not be null (of a function's fields only db_user may be)."
  }

  validation {
    condition = alltrue(flatten([for m in values(var.manifest.mappings) : [
      for k, v in m : v != null if !contains(["maximum_record_age_in_seconds", "tumbling_window_in_seconds", "starting_position_timestamp"], k)
    ]]))
    error_message = "pipeline.json: ${join(", ", flatten([for name, m in var.manifest.mappings : [for k, v in m : "mapping ${name}: ${k}" if v == null && !contains(["maximum_record_age_in_seconds", "tumbling_window_in_seconds", "starting_position_timestamp"], k)]]))} must not be null (of a mapping's fields only maximum_record_age_in_seconds, tumbling_window_in_seconds and starting_position_timestamp may be)."
  }

  validation {
    condition     = alltrue([for f in values(var.manifest.functions) : contains(var.manifest.kinds, f.kind)])
    error_message = "pipeline.json: every function's kind must be one of its \"kinds\" (${join(", ", var.manifest.kinds)}): ${join(", ", [for name, f in var.manifest.functions : "${name} has ${f.kind}" if !contains(var.manifest.kinds, f.kind)])}."
  }

  validation {
    condition     = alltrue([for f in values(var.manifest.functions) : f.database || f.db_user == null])
    error_message = "pipeline.json: db_user is a database login role; a function with database = false needs db_user = null: ${join(", ", [for name, f in var.manifest.functions : name if !f.database && f.db_user != null])}."
  }

  validation {
    condition = alltrue(flatten([for f in values(var.manifest.functions) : [
      for s in values(f.stream_env) : contains(keys(var.manifest.streams), s)
    ]]))
    error_message = "pipeline.json: every stream_env value must name an entry of \"streams\": ${join(", ", flatten([for name, f in var.manifest.functions : [for env, s in f.stream_env : "${name}.${env} = ${s}" if !contains(keys(var.manifest.streams), s)]]))}."
  }

  validation {
    condition = alltrue(flatten([for f in values(var.manifest.functions) : [
      for t in values(f.topic_env) : contains(keys(var.manifest.topics), t)
    ]]))
    error_message = "pipeline.json: every topic_env value must name an entry of \"topics\": ${join(", ", flatten([for name, f in var.manifest.functions : [for env, t in f.topic_env : "${name}.${env} = ${t}" if !contains(keys(var.manifest.topics), t)]]))}."
  }

  validation {
    condition = alltrue([for m in values(var.manifest.mappings) :
      contains(keys(var.manifest.functions), m.function) && contains(keys(var.manifest.streams), m.stream)
    ])
    error_message = "pipeline.json: every mapping's function and stream must be entries of \"functions\" and \"streams\": ${join(", ", [for name, m in var.manifest.mappings : "${name} (function ${m.function}, stream ${m.stream})" if !(contains(keys(var.manifest.functions), m.function) && contains(keys(var.manifest.streams), m.stream))])}."
  }

  # Each mapping's on-failure queue is named <function>-<stream>, so the pair must be unique.
  validation {
    condition = length(var.manifest.mappings) == length(distinct([
      for m in values(var.manifest.mappings) : "${m.function}:${m.stream}"
    ]))
    error_message = "pipeline.json: a function reads a stream through one mapping at most: ${join(", ", [for name, m in var.manifest.mappings : "${name} (${m.function}:${m.stream})" if length([for o in values(var.manifest.mappings) : o if o.function == m.function && o.stream == m.stream]) > 1])}."
  }
}

variable "terraform_environment" {
  description = "Environment values that are Terraform expressions, by function name; each name must be listed in that function's terraform_environment in pipeline.json."
  type        = map(map(string))
}

variable "maximum_record_age_in_seconds" {
  description = "The stage's record age: a mapping whose maximum_record_age_in_seconds is null gets it."
  type        = number
}
