# The connection budget: how many connections the database functions can hold at once,
# against what the database (or its proxy) accepts. A plan that could exceed it fails.
#
# Each warm function instance keeps one connection, so a function's worst case is its
# concurrency. For a stream consumer that is, per event source mapping, the stream's
# shards times the mapping's parallelization factor (Lambda runs that many batches at once
# per stream), or its reserved concurrency when that is lower. Any other database function
# needs a reserved concurrency: without one its connections are unbounded.
#
# Stream consumers get that worst case as their reserved concurrency, so it follows the
# stream's size instead of throttling the mapping below it: a reservation under shards x
# parallelization only makes batches wait (iterator age grows), and one above it is never
# used. An explicit entry in var.reserved_concurrency still wins (0 stops a consumer).

locals {
  # Shards each stream is planned for.
  stream_shards = {
    for k in keys(local.streams) : k => var.stream_mode == "PROVISIONED" ? var.stream_shard_count : var.stream_on_demand_shards
  }

  # Lambda's concurrency over each consumer's mappings: shards x parallelization factor.
  mapping_concurrency = {
    for f in local.stream_consumers : f => sum([
      for m in values(local.event_source_mappings) : local.stream_shards[m.stream] * m.parallelization_factor if m.function == f
    ])
  }

  reserved_concurrency = {
    for k in keys(local.functions) : k => lookup(var.reserved_concurrency, k, lookup(local.mapping_concurrency, k, -1))
  }

  # Worst-case concurrency (= connections) of each database function; null when unbounded.
  db_worst_case = {
    for k, f in local.functions : k => (
      contains(keys(local.mapping_concurrency), k)
      ? (local.reserved_concurrency[k] >= 0 ? min(local.mapping_concurrency[k], local.reserved_concurrency[k]) : local.mapping_concurrency[k])
      : (local.reserved_concurrency[k] >= 0 ? local.reserved_concurrency[k] : null)
    ) if f.database
  }
  db_unbounded   = sort([for k, n in local.db_worst_case : k if n == null])
  db_connections = sum(concat([0], [for n in values(local.db_worst_case) : coalesce(n, 0)]))

  # The instance's max_connections. RDS's default for PostgreSQL is
  # LEAST({DBInstanceClassMemory/9531392}, 5000) (the default parameter group's formula,
  # in the RDS User Guide's quotas page, "Maximum number of database connections").
  # DBInstanceClassMemory is the memory left to PostgreSQL once RDS's own processes have
  # theirs, below the class's nominal size: instances report 198 for a 2 GiB class and
  # 413 for a 4 GiB one, where the nominal sizes give 225 and 450. 0.875 of the nominal
  # size is under both, so the computed figure errs low; set db_max_connections to the
  # figure SHOW max_connections gives to use the real one.
  db_instance_memory_gib = {
    "db.t4g.micro"  = 1
    "db.t4g.small"  = 2
    "db.t4g.medium" = 4
    "db.t4g.large"  = 8
    "db.t4g.xlarge" = 16
    "db.m7g.large"  = 8
    "db.m7g.xlarge" = 16
    "db.r7g.large"  = 16
    "db.r7g.xlarge" = 32
  }
  db_memory_usable  = 0.875
  db_memory_known   = contains(keys(local.db_instance_memory_gib), var.db_instance_class)
  db_max_by_class   = local.db_memory_known ? min(floor(local.db_instance_memory_gib[var.db_instance_class] * 1073741824 * local.db_memory_usable / 9531392), 5000) : null
  db_max_connection = var.db_max_connections != null ? var.db_max_connections : local.db_max_by_class

  db_budget = local.db_max_connection == null ? null : (
    var.db_proxy
    ? floor(local.db_max_connection * var.db_proxy_max_connections_percent / 100)
    : local.db_max_connection - var.db_connection_reserve
  )
  db_budget_source = var.db_proxy ? (
    "the RDS Proxy's pool, ${var.db_proxy_max_connections_percent}% of max_connections ${coalesce(local.db_max_connection, 0)}"
    ) : (
    "max_connections ${coalesce(local.db_max_connection, 0)} less a reserve of ${var.db_connection_reserve}"
  )
  db_worst_case_text = join(", ", [
    for k, n in local.db_worst_case : (
      contains(keys(local.mapping_concurrency), k)
      ? "${k} ${coalesce(n, 0)} (${join(" + ", [for m in values(local.event_source_mappings) : "${m.stream} ${local.stream_shards[m.stream]} shards x parallelization ${m.parallelization_factor}" if m.function == k])}${local.reserved_concurrency[k] >= 0 && local.reserved_concurrency[k] < local.mapping_concurrency[k] ? ", capped by reserved concurrency ${local.reserved_concurrency[k]}" : ""})"
      : "${k} ${n == null ? "unbounded" : n}"
    )
  ])
}

resource "terraform_data" "connection_budget" {
  # Recorded in the state, so a change of any figure shows in the plan.
  input = {
    max_connections = local.db_max_connection
    budget          = local.db_budget
    connections     = local.db_connections
    worst_case      = { for k, n in local.db_worst_case : k => n == null ? -1 : n }
  }

  lifecycle {
    precondition {
      condition     = local.db_max_connection != null
      error_message = "Connection budget: max_connections of ${var.db_instance_class} is not known: add the class's memory to local.db_instance_memory_gib (connections.tf) or set db_max_connections."
    }
    precondition {
      condition     = length(local.db_unbounded) == 0
      error_message = "Connection budget: ${join(", ", local.db_unbounded)} reach the database without a reserved concurrency, so their connections are unbounded: give each one in reserved_concurrency."
    }
    precondition {
      condition     = local.db_budget == null || local.db_connections <= coalesce(local.db_budget, 0)
      error_message = "Connection budget exceeded: the database functions can hold ${local.db_connections} connections at once (${local.db_worst_case_text}), over the budget of ${coalesce(local.db_budget, 0)} (${local.db_budget_source}, ${var.db_instance_class}). Lower the shards or parallelization factors, cap a consumer with reserved_concurrency, or give the database more connections."
    }
  }
}

# A consumer's reservation under shards x parallelization makes its batches wait: it is
# allowed (the budget counts the lower figure) but worth a warning.
check "consumers_are_not_throttled" {
  assert {
    condition = alltrue([
      for f, n in local.mapping_concurrency : local.reserved_concurrency[f] < 0 || local.reserved_concurrency[f] >= n || local.reserved_concurrency[f] == 0
    ])
    error_message = "Reserved concurrency under shards x parallelization throttles the mapping: ${join(", ", [for f, n in local.mapping_concurrency : "${f} ${local.reserved_concurrency[f]} < ${n}" if local.reserved_concurrency[f] > 0 && local.reserved_concurrency[f] < n])}."
  }
}
