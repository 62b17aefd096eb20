#include <string.h>

#include "bq_wire.h"
#include "rpc.h"

void bq_wire_init(struct bq_wire_quote *q)
{
	static const uint32_t pcrs[BQ_WIRE_NPCRS] = {0, 8, 14};

	memset(q, 0, sizeof(*q));
	memcpy(q->pcrs, pcrs, sizeof(pcrs));
	aicert__v1__pcr_bank__init(&q->bank);
	q->bank.hash_alg = 0x000b; /* SHA-256 */
	q->bank.pcrs = q->pcrs;
	q->bank.n_pcrs = BQ_WIRE_NPCRS;
	q->banks[0] = &q->bank;
	aicert__v1__quote_request__init(&q->req);
	q->req.qualifying_data.data = q->nonce;
	q->req.qualifying_data.len = sizeof(q->nonce);
	q->req.banks = q->banks;
	q->req.n_banks = 1;
}

void bq_wire_nonce(struct bq_wire_quote *q, uint64_t seq)
{
	memcpy(q->nonce, &seq, sizeof(seq));
}

void bq_wire_sizes(const struct bq_wire_quote *q, const Aicert__V1__QuoteReply *rep,
		   size_t *req_len, size_t *rep_len)
{
	Aicert__V1__Request env = AICERT__V1__REQUEST__INIT;
	Aicert__V1__Response resp = AICERT__V1__RESPONSE__INIT;
	static uint8_t dummy;

	env.method = "aicert.v1.Agent/Quote";
	env.request_id = UINT64_MAX;
	env.deadline_ms = RPC_DEFAULT_DEADLINE_MS;
	env.payload.data = &dummy;
	env.payload.len = aicert__v1__quote_request__get_packed_size(&q->req);
	*req_len = aicert__v1__request__get_packed_size(&env);
	resp.request_id = UINT64_MAX;
	resp.payload.data = &dummy;
	resp.payload.len = aicert__v1__quote_reply__get_packed_size(rep);
	*rep_len = aicert__v1__response__get_packed_size(&resp);
}

void bq_wire_identity_sizes(const Aicert__V1__IdentityReply *rep, size_t *req_len, size_t *rep_len)
{
	Aicert__V1__Request env = AICERT__V1__REQUEST__INIT;
	Aicert__V1__Response resp = AICERT__V1__RESPONSE__INIT;
	static uint8_t dummy;

	env.method = "aicert.v1.Agent/Identity";
	env.request_id = UINT64_MAX;
	env.deadline_ms = RPC_DEFAULT_DEADLINE_MS;
	*req_len = aicert__v1__request__get_packed_size(&env);
	resp.request_id = UINT64_MAX;
	resp.payload.data = &dummy;
	resp.payload.len = aicert__v1__identity_reply__get_packed_size(rep);
	*rep_len = aicert__v1__response__get_packed_size(&resp);
}

void bq_wire_sizes_for(size_t attest_len, size_t sig_len, size_t ak_pub_len, size_t *req_len,
		       size_t *rep_len)
{
	static uint8_t zero[32];
	Aicert__V1__QuoteReply rep = AICERT__V1__QUOTE_REPLY__INIT;
	Aicert__V1__PcrBankValues bank = AICERT__V1__PCR_BANK_VALUES__INIT, *banks[1] = {&bank};
	Aicert__V1__PcrValue v[BQ_WIRE_NPCRS], *vp[BQ_WIRE_NPCRS];
	struct bq_wire_quote q;

	bq_wire_init(&q);
	for (size_t i = 0; i < BQ_WIRE_NPCRS; i++) {
		aicert__v1__pcr_value__init(&v[i]);
		v[i].pcr = q.pcrs[i];
		v[i].digest.data = zero;
		v[i].digest.len = sizeof(zero);
		vp[i] = &v[i];
	}
	bank.hash_alg = 0x000b;
	bank.values = vp;
	bank.n_values = BQ_WIRE_NPCRS;
	/* Only the lengths count for the packed size; point at zero bytes. */
	rep.attest.len = attest_len;
	rep.signature.len = sig_len;
	rep.ak_public.len = ak_pub_len;
	rep.attest.data = rep.signature.data = rep.ak_public.data = zero;
	rep.pcrs = banks;
	rep.n_pcrs = 1;
	bq_wire_sizes(&q, &rep, req_len, rep_len);
}
