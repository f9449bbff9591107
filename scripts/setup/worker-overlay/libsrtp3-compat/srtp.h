/*
 * Telepractice SFU: the part of the libsrtp 3 API that mediasoup 3.27 calls (src/RTC/SrtpSession.cpp,
 * include/RTC/SrtpSession.hpp, src/DepLibSRTP.cpp), on top of libsrtp 2.x (2.5 .. 2.8).
 *
 * mediasoup pins a pre-release of libsrtp 3 (versatica/libsrtp v3.0.0-beta-2fc078db) that no
 * distribution ships; Debian ships libsrtp 2.x. scripts/setup/worker-build.mjs copies this file to
 * <libsrtp 2.x source>/mediasoup-compat/srtp.h and exposes only that directory to mediasoup, whose
 * sources do `#include <srtp.h>`. The differences handled here (and nothing else):
 *   - libsrtp 3's srtp_policy_t is an opaque handle with setters; 2.x's is a plain struct
 *     (renamed srtp2_policy_t below while the real header is included);
 *   - protect/unprotect take separate in/out buffers and size_t lengths; 2.x works in place on int;
 *   - srtp_stream_remove() is 2.x's srtp_remove_stream();
 *   - two error codes libsrtp 3 added (mediasoup only names them in its error-string map);
 *   - SRTP_MAX_SRTCP_TRAILER_LEN, defined by 2.x only from 2.6 on.
 * Single master key, no MKI: mediasoup uses neither.
 * Cost: srtp_protect*() copies the packet into mediasoup's separate output buffer before encrypting
 * it in place (one memcpy per sent packet); decryption is already in place in mediasoup.
 */
#ifndef TELEPRACTICE_LIBSRTP3_COMPAT_SRTP_H
#define TELEPRACTICE_LIBSRTP3_COMPAT_SRTP_H

#ifndef __cplusplus
#error "libsrtp3-compat/srtp.h is for C++ (mediasoup's worker) only"
#endif

#define srtp_policy_t srtp2_policy_t
#include "../include/srtp.h"
#undef srtp_policy_t

#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>

#ifndef SRTP_MAX_SRTCP_TRAILER_LEN
/* As libsrtp >= 2.6 defines it: the SRTCP index word, the tag and the MKI. */
#define SRTP_MAX_SRTCP_TRAILER_LEN (4 + SRTP_MAX_TAG_LEN + SRTP_MAX_MKI_LEN)
#endif

/* libsrtp 3 appends these after srtp_err_status_pkt_idx_adv (27). */
inline constexpr srtp_err_status_t srtp_err_status_buffer_small = static_cast<srtp_err_status_t>(28);
inline constexpr srtp_err_status_t srtp_err_status_cryptex_err  = static_cast<srtp_err_status_t>(29);

/* The libsrtp 3 handle: a heap-allocated libsrtp 2 policy. */
typedef srtp2_policy_t* srtp_policy_t;

inline srtp_err_status_t srtp_policy_create(srtp_policy_t* policy)
{
	if (!policy)
		return srtp_err_status_bad_param;

	*policy = new (std::nothrow) srtp2_policy_t(); /* value-initialised: no keys, no next */

	return *policy ? srtp_err_status_ok : srtp_err_status_alloc_fail;
}

inline void srtp_policy_destroy(srtp_policy_t policy)
{
	if (!policy)
		return;

	if (policy->key)
	{
		/* Wipe the master key and salt before freeing them. */
		std::memset(policy->key, 0, static_cast<size_t>(policy->rtp.cipher_key_len));
		delete[] policy->key;
	}

	delete policy;
}

inline srtp_err_status_t srtp_policy_set_ssrc(srtp_policy_t policy, srtp_ssrc_t ssrc)
{
	if (!policy)
		return srtp_err_status_bad_param;

	policy->ssrc = ssrc;

	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_set_profile(srtp_policy_t policy, srtp_profile_t profile)
{
	/* The key length comes from the profile: it must be set before the key. */
	if (!policy || policy->key)
		return srtp_err_status_bad_param;

	const srtp_err_status_t err = srtp_crypto_policy_set_from_profile_for_rtp(&policy->rtp, profile);

	if (err != srtp_err_status_ok)
		return err;

	return srtp_crypto_policy_set_from_profile_for_rtcp(&policy->rtcp, profile);
}

/* libsrtp 2 reads master key then master salt from one buffer of rtp.cipher_key_len bytes. */
inline srtp_err_status_t srtp_policy_add_key(
  srtp_policy_t policy,
  const uint8_t* key,
  size_t keyLen,
  const uint8_t* salt,
  size_t saltLen,
  const uint8_t* /*mki*/,
  size_t mkiLen)
{
	if (!policy || !key || !salt || policy->key || mkiLen != 0)
		return srtp_err_status_bad_param;

	if (keyLen + saltLen != static_cast<size_t>(policy->rtp.cipher_key_len))
		return srtp_err_status_bad_param;

	auto* keyAndSalt = new (std::nothrow) unsigned char[keyLen + saltLen];

	if (!keyAndSalt)
		return srtp_err_status_alloc_fail;

	std::memcpy(keyAndSalt, key, keyLen);
	std::memcpy(keyAndSalt + keyLen, salt, saltLen);
	policy->key = keyAndSalt;

	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_set_allow_repeat_tx(srtp_policy_t policy, bool allow)
{
	if (!policy)
		return srtp_err_status_bad_param;

	policy->allow_repeat_tx = allow ? 1 : 0;

	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_set_window_size(srtp_policy_t policy, size_t windowSize)
{
	/* The range libsrtp 2 accepts in srtp_create() (64 <= size < 2^15). */
	if (!policy || windowSize < 64 || windowSize >= 0x8000)
		return srtp_err_status_bad_param;

	policy->window_size = static_cast<unsigned long>(windowSize);

	return srtp_err_status_ok;
}

/* Both take the SSRC in network byte order. */
inline srtp_err_status_t srtp_stream_remove(srtp_t session, uint32_t ssrc)
{
	return srtp_remove_stream(session, ssrc);
}

namespace telepractice_srtp3_compat
{
	/*
	 * libsrtp 3 style call (in -> out, size_t lengths) through a libsrtp 2 in-place function.
	 * `trailer` is the most the 2.x function may append; *outLen is the out buffer's capacity.
	 */
	template<typename InPlace>
	inline srtp_err_status_t Transform(
	  InPlace inPlace, const uint8_t* in, size_t inLen, uint8_t* out, size_t* outLen, size_t trailer)
	{
		if (!in || !out || !outLen || inLen > static_cast<size_t>(INT_MAX) - trailer)
			return srtp_err_status_bad_param;

		if (*outLen < inLen + trailer)
			return srtp_err_status_buffer_small;

		if (out != in)
			std::memmove(out, in, inLen);

		int len = static_cast<int>(inLen);
		const srtp_err_status_t err = inPlace(static_cast<void*>(out), &len);

		if (err == srtp_err_status_ok)
			*outLen = static_cast<size_t>(len);

		return err;
	}
} // namespace telepractice_srtp3_compat

inline srtp_err_status_t srtp_protect(
  srtp_t ctx, const uint8_t* rtp, size_t rtpLen, uint8_t* srtp, size_t* srtpLen, size_t mkiIndex)
{
	if (mkiIndex != 0)
		return srtp_err_status_bad_param;

	return telepractice_srtp3_compat::Transform(
	  [ctx](void* p, int* l) { return srtp_protect(ctx, p, l); }, rtp, rtpLen, srtp, srtpLen, SRTP_MAX_TRAILER_LEN);
}

inline srtp_err_status_t srtp_unprotect(srtp_t ctx, const uint8_t* srtp, size_t srtpLen, uint8_t* rtp, size_t* rtpLen)
{
	return telepractice_srtp3_compat::Transform(
	  [ctx](void* p, int* l) { return srtp_unprotect(ctx, p, l); }, srtp, srtpLen, rtp, rtpLen, 0);
}

inline srtp_err_status_t srtp_protect_rtcp(
  srtp_t ctx, const uint8_t* rtcp, size_t rtcpLen, uint8_t* srtcp, size_t* srtcpLen, size_t mkiIndex)
{
	if (mkiIndex != 0)
		return srtp_err_status_bad_param;

	return telepractice_srtp3_compat::Transform(
	  [ctx](void* p, int* l) { return srtp_protect_rtcp(ctx, p, l); }, rtcp, rtcpLen, srtcp, srtcpLen, SRTP_MAX_SRTCP_TRAILER_LEN);
}

inline srtp_err_status_t srtp_unprotect_rtcp(
  srtp_t ctx, const uint8_t* srtcp, size_t srtcpLen, uint8_t* rtcp, size_t* rtcpLen)
{
	return telepractice_srtp3_compat::Transform(
	  [ctx](void* p, int* l) { return srtp_unprotect_rtcp(ctx, p, l); }, srtcp, srtcpLen, rtcp, rtcpLen, 0);
}

#endif
