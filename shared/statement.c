#include <stdio.h>
#include <string.h>

#include "err.h"
#include "hex.h"
#include "statement.h"

void statement_builder_id(const char *platform, char *out, size_t cap)
{
	snprintf(out, cap, "urn:aicert:platform:%s", platform);
}

static json_t *statement_digest(const uint8_t sha256[32])
{
	char hex[65];

	hex_encode(sha256, 32, hex);
	return json_pack("{s:s}", "sha256", hex);
}

static json_t *statement_subjects(const struct statement_job *job)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < job->n_outputs; i++)
		json_array_append_new(a, json_pack("{s:s, s:o}", "name", job->outputs[i].path,
						   "digest",
						   statement_digest(job->outputs[i].sha256)));
	if (a && job->root)
		json_array_append_new(a,
				      json_pack("{s:s, s:o}", "name", STATEMENT_ROOT_NAME, "digest",
						statement_digest(job->root->root_sha256)));
	return a;
}

static json_t *statement_dependencies(const struct statement_job *job)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < job->n_inputs; i++) {
		const struct events_input *in = &job->inputs[i];

		json_array_append_new(a, json_pack("{s:s, s:s, s:o, s:{s:s, s:I, s:I}}", "name",
						   in->name, "uri", in->uri, "digest",
						   statement_digest(in->sha256), "annotations",
						   "kind", in->kind, "files", (json_int_t)in->files,
						   "size", (json_int_t)in->size));
	}
	return a;
}

static json_t *statement_build_definition(const struct statement_job *job)
{
	char nonce[2 * EVENTS_MAX_NONCE + 1], config[65], controller[65];
	json_t *def;

	hex_encode(job->start->nonce, job->start->nonce_len, nonce);
	hex_encode(job->start->config_sha256, 32, config);
	def = json_pack("{s:s, s:{s:s}, s:{s:s, s:s, s:I, s:I}, s:o}", "buildType",
			STATEMENT_BUILD_TYPE, "externalParameters", "job_config_sha256", config,
			"internalParameters", "job_id", job->start->job_id, "nonce", nonce,
			"reset_count", (json_int_t)job->start->reset_count, "restart_count",
			(json_int_t)job->start->restart_count, "resolvedDependencies",
			statement_dependencies(job));
	/* The controller the runner was bound to at its start (PCR 15). */
	if (def && job->controller) {
		hex_encode(job->controller->identity_sha256, 32, controller);
		json_object_set_new(json_object_get(def, "internalParameters"),
				    "controller_identity_sha256", json_string(controller));
	}
	return def;
}

static json_t *statement_run_details(const struct statement_job *job, const char *platform,
				     const uint8_t log_sha256[32])
{
	char builder[96];
	json_t *byproducts;

	statement_builder_id(platform, builder, sizeof(builder));
	byproducts = json_pack("[{s:s, s:o}]", "name", "runtime-log", "digest",
			       statement_digest(log_sha256));
	if (byproducts && job->end)
		json_array_append_new(byproducts, json_pack("{s:s, s:{s:i, s:I, s:I}}", "name",
							    "job-end", "annotations", "exit_code",
							    (int)job->end->exit_code, "flops",
							    (json_int_t)job->end->flops, "wall_ms",
							    (json_int_t)job->end->wall_ms));
	return json_pack("{s:{s:s}, s:{s:s}, s:o}", "builder", "id", builder, "metadata",
			 "invocationId", job->start->job_id, "byproducts", byproducts);
}

int statement_build(const struct statement_job *job, const char *platform,
		    const uint8_t runtime_log_sha256[32], json_t **ret)
{
	json_t *s;

	if (!job->start)
		return err_set(AICERT_ERR_INVALID, "a statement needs a job-start event");
	s = json_pack("{s:s, s:o, s:s, s:{s:o, s:o}}", "_type", STATEMENT_TYPE, "subject",
		      statement_subjects(job), "predicateType", STATEMENT_PREDICATE, "predicate",
		      "buildDefinition", statement_build_definition(job), "runDetails",
		      statement_run_details(job, platform, runtime_log_sha256));
	if (!s)
		return err_set(AICERT_ERR_NOMEM, "cannot build the statement");
	*ret = s;
	return 0;
}
