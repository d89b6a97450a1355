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

  validation {
    condition     = alltrue([for f in values(var.manifest.functions) : contains(var.manifest.kinds, f.kind)])
    error_message = "pipeline.json: every function's kind must be one of its \"kinds\"."
  }

  validation {
    condition     = alltrue([for f in values(var.manifest.functions) : f.database || f.db_user == null])
    error_message = "pipeline.json: db_user is a database login role; a function with database = false needs db_user = null."
  }

  validation {
    condition = alltrue(flatten([for f in values(var.manifest.functions) : [
      for s in values(f.stream_env) : contains(keys(var.manifest.streams), s)
    ]]))
    error_message = "pipeline.json: every stream_env value must name an entry of \"streams\"."
  }

  validation {
    condition = alltrue(flatten([for f in values(var.manifest.functions) : [
      for t in values(f.topic_env) : contains(keys(var.manifest.topics), t)
    ]]))
    error_message = "pipeline.json: every topic_env value must name an entry of \"topics\"."
  }

  validation {
    condition = alltrue([for m in values(var.manifest.mappings) :
      contains(keys(var.manifest.functions), m.function) && contains(keys(var.manifest.streams), m.stream)
    ])
    error_message = "pipeline.json: every mapping's function and stream must be entries of \"functions\" and \"streams\"."
  }

  validation {
    condition = length(var.manifest.mappings) == length(distinct([
      for m in values(var.manifest.mappings) : "${m.function}:${m.stream}"
    ]))
    error_message = "pipeline.json: a function reads a stream through one mapping at most."
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
