//go:build !nocodec

#include "libav.h"

#include <stdio.h>
#include <string.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>

// px_log records libavcodec messages of our own contexts into their px_ctx
// instead of printing them: corrupt input makes the H.264 decoder print many
// lines per frame, and the message is more useful in the returned error.
// Messages from other objects keep the default behaviour at the level set in
// px_init_logging.
static void px_log(void *avcl, int level, const char *fmt, va_list vl) {
	if (avcl != NULL && level <= AV_LOG_ERROR) {
		const AVClass *cls = *(const AVClass **)avcl;
		if (cls == avcodec_get_class()) {
			px_ctx *c = ((AVCodecContext *)avcl)->opaque;
			if (c != NULL) {
				if (c->err[0] == 0) {
					vsnprintf(c->err, PX_ERRLEN, fmt, vl);
					size_t n = strlen(c->err);
					while (n > 0 && (c->err[n - 1] == '\n' || c->err[n - 1] == ' ')) {
						c->err[--n] = 0;
					}
				}
				return;
			}
		}
	}
	av_log_default_callback(avcl, level, fmt, vl);
}

void px_init_logging(void) {
	av_log_set_level(AV_LOG_ERROR);
	av_log_set_callback(px_log);
}

void px_clear_err(px_ctx *c) { c->err[0] = 0; }

static px_ctx *px_alloc(const AVCodec *codec) {
	px_ctx *c = av_mallocz(sizeof(px_ctx));
	if (c == NULL) {
		return NULL;
	}
	c->ctx = avcodec_alloc_context3(codec);
	c->frame = av_frame_alloc();
	c->pkt = av_packet_alloc();
	if (c->ctx == NULL || c->frame == NULL || c->pkt == NULL) {
		px_close(c);
		return NULL;
	}
	c->ctx->opaque = c;
	return c;
}

void px_close(px_ctx *c) {
	if (c == NULL) {
		return;
	}
	avcodec_free_context(&c->ctx);
	av_frame_free(&c->frame);
	av_packet_free(&c->pkt);
	sws_freeContext(c->sws);
	av_free(c);
}

px_ctx *px_dec_open(int codec_id, int64_t max_pixels, int *averr) {
	const AVCodec *codec = avcodec_find_decoder(codec_id);
	if (codec == NULL) {
		*averr = AVERROR_DECODER_NOT_FOUND;
		return NULL;
	}
	px_ctx *c = px_alloc(codec);
	if (c == NULL) {
		*averr = AVERROR(ENOMEM);
		return NULL;
	}
	// One thread is the fastest here (measured), adds no frame of latency,
	// and keeps every libav log call on the goroutine that decodes.
	c->ctx->thread_count = 1;
	// Do not output the grey guesses the H.264 decoder makes before the first
	// keyframe: Decode returns no frame until the picture is real.
	c->ctx->flags &= ~AV_CODEC_FLAG_OUTPUT_CORRUPT;
	// Bound the memory one forged header can make the decoder allocate.
	c->ctx->max_pixels = max_pixels;
	int ret = avcodec_open2(c->ctx, codec, NULL);
	if (ret < 0) {
		*averr = ret;
		px_close(c);
		return NULL;
	}
	return c;
}

uint8_t *px_dec_packet(px_ctx *c, int size) {
	av_packet_unref(c->pkt);
	// av_new_packet adds AV_INPUT_BUFFER_PADDING_SIZE zeroed bytes: the
	// bitstream readers read past the end of the data.
	if (av_new_packet(c->pkt, size) < 0) {
		return NULL;
	}
	return c->pkt->data;
}

int px_dec_send(px_ctx *c) {
	int ret = avcodec_send_packet(c->ctx, c->pkt);
	av_packet_unref(c->pkt);
	return ret;
}

int px_dec_send_eof(px_ctx *c) { return avcodec_send_packet(c->ctx, NULL); }

int px_dec_receive(px_ctx *c) {
	av_frame_unref(c->frame);
	return avcodec_receive_frame(c->ctx, c->frame);
}

void px_dec_flush(px_ctx *c) { avcodec_flush_buffers(c->ctx); }

static int px_sws_colorspace(enum AVColorSpace cs) {
	switch (cs) {
	case AVCOL_SPC_BT709:
		return SWS_CS_ITU709;
	case AVCOL_SPC_FCC:
		return SWS_CS_FCC;
	case AVCOL_SPC_SMPTE240M:
		return SWS_CS_SMPTE240M;
	case AVCOL_SPC_BT2020_NCL:
	case AVCOL_SPC_BT2020_CL:
		return SWS_CS_BT2020;
	default:
		return SWS_CS_ITU601;
	}
}

int px_frame_to_rgb(px_ctx *c, uint8_t *dst, int stride) {
	AVFrame *f = c->frame;
	int fmt = f->format;
	int w = f->width, h = f->height;
	if (w <= 0 || h <= 0 || fmt < 0) {
		return AVERROR_INVALIDDATA;
	}
	// A new context whenever the input geometry or format changes (a stream
	// that changes resolution, a JPEG with other chroma subsampling); the
	// colour matrix is then set again below.
	// Plain flags select libswscale's fast YUV to RGB path, which is also
	// what the ffmpeg CLI uses (our output matches its rgb24 decode at >40 dB);
	// SWS_ACCURATE_RND|SWS_FULL_CHR_H_INT was slower and no closer to the
	// source images in our round-trip tests.
	struct SwsContext *sws = sws_getCachedContext(c->sws, w, h, fmt, w, h, AV_PIX_FMT_RGB24,
		SWS_BILINEAR, NULL, NULL, NULL);
	if (sws == NULL) {
		c->sws = NULL;
		return AVERROR(EINVAL);
	}
	c->sws = sws;
	int *inv_table, *table, src_range, dst_range, brightness, contrast, saturation;
	if (sws_getColorspaceDetails(sws, &inv_table, &src_range, &table, &dst_range, &brightness,
		&contrast, &saturation) >= 0) {
		const int *want = sws_getCoefficients(px_sws_colorspace(f->colorspace));
		// yuvj* formats are full range whatever the frame says.
		int want_range = f->color_range == AVCOL_RANGE_JPEG || fmt == AV_PIX_FMT_YUVJ420P ||
			fmt == AV_PIX_FMT_YUVJ422P || fmt == AV_PIX_FMT_YUVJ444P ||
			fmt == AV_PIX_FMT_YUVJ440P || fmt == AV_PIX_FMT_YUVJ411P;
		if (memcmp(want, inv_table, 4 * sizeof(int)) != 0 || want_range != src_range) {
			sws_setColorspaceDetails(sws, want, want_range, table, dst_range, brightness,
				contrast, saturation);
		}
	}
	uint8_t *dsts[4] = {dst, NULL, NULL, NULL};
	int strides[4] = {stride, 0, 0, 0};
	int ret = sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, h, dsts, strides);
	return ret == h ? 0 : AVERROR(EINVAL);
}

px_ctx *px_enc_open(const char *name, int width, int height, int fps, int gop, int64_t bitrate,
	const char *preset, const char *profile, int quality, int *averr) {
	const AVCodec *codec = avcodec_find_encoder_by_name(name);
	if (codec == NULL) {
		*averr = AVERROR_ENCODER_NOT_FOUND;
		return NULL;
	}
	px_ctx *c = px_alloc(codec);
	if (c == NULL) {
		*averr = AVERROR(ENOMEM);
		return NULL;
	}
	AVCodecContext *ctx = c->ctx;
	ctx->width = width;
	ctx->height = height;
	ctx->time_base = (AVRational){1, fps};
	ctx->framerate = (AVRational){fps, 1};
	ctx->thread_count = 1;
	int is_jpeg = codec->id == AV_CODEC_ID_MJPEG;
	enum AVPixelFormat pixfmt = AV_PIX_FMT_YUV420P;
	if (is_jpeg) {
		pixfmt = AV_PIX_FMT_YUVJ420P;
		ctx->color_range = AVCOL_RANGE_JPEG;
		ctx->flags |= AV_CODEC_FLAG_QSCALE;
		ctx->global_quality = FF_QP2LAMBDA * quality;
		// RTP/JPEG (RFC 2435) cannot carry custom Huffman tables.
		av_opt_set(ctx->priv_data, "huffman", "default", 0);
	} else {
		ctx->pix_fmt = pixfmt;
		ctx->colorspace = AVCOL_SPC_SMPTE170M;
		ctx->color_primaries = AVCOL_PRI_SMPTE170M;
		ctx->color_trc = AVCOL_TRC_SMPTE170M;
		ctx->color_range = AVCOL_RANGE_MPEG;
		ctx->gop_size = gop;
		ctx->keyint_min = gop;
		ctx->max_b_frames = 0;
		ctx->bit_rate = bitrate;
		ctx->rc_max_rate = bitrate;
		ctx->rc_buffer_size = (int)(bitrate > INT32_MAX ? INT32_MAX : bitrate);
		// SPS and PPS in extradata right after open, and repeated before
		// every IDR so that a late RTSP reader can start at any keyframe.
		ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
		av_opt_set(ctx->priv_data, "preset", preset, 0);
		av_opt_set(ctx->priv_data, "tune", "zerolatency", 0);
		av_opt_set(ctx->priv_data, "profile", profile, 0);
		av_opt_set(ctx->priv_data, "x264-params", "scenecut=0:repeat-headers=1", 0);
	}
	ctx->pix_fmt = pixfmt;
	int ret = avcodec_open2(ctx, codec, NULL);
	if (ret < 0) {
		*averr = ret;
		px_close(c);
		return NULL;
	}
	c->frame->format = pixfmt;
	c->frame->width = width;
	c->frame->height = height;
	c->frame->color_range = ctx->color_range;
	c->frame->colorspace = ctx->colorspace;
	ret = av_frame_get_buffer(c->frame, 0);
	if (ret < 0) {
		*averr = ret;
		px_close(c);
		return NULL;
	}
	// Area averaging for the 2x2 chroma subsampling: measured on smooth test
	// images, the round trip through our decoder gains 4 dB of PSNR over
	// SWS_BILINEAR, which blurs chroma.
	c->sws = sws_getContext(width, height, AV_PIX_FMT_RGB24, width, height, pixfmt,
		SWS_AREA | SWS_ACCURATE_RND, NULL, NULL, NULL);
	if (c->sws == NULL) {
		*averr = AVERROR(EINVAL);
		px_close(c);
		return NULL;
	}
	return c;
}

int px_enc_send_rgb(px_ctx *c, const uint8_t *src, int stride) {
	// The encoder may still hold a reference to the previous picture.
	int ret = av_frame_make_writable(c->frame);
	if (ret < 0) {
		return ret;
	}
	const uint8_t *srcs[4] = {src, NULL, NULL, NULL};
	int strides[4] = {stride, 0, 0, 0};
	if (sws_scale(c->sws, srcs, strides, 0, c->ctx->height, c->frame->data, c->frame->linesize) !=
		c->ctx->height) {
		return AVERROR(EINVAL);
	}
	c->frame->pts = c->next_pts++;
	// With AV_CODEC_FLAG_QSCALE the MJPEG encoder takes its quantiser from
	// each frame, not from the context.
	c->frame->quality = c->ctx->global_quality;
	return avcodec_send_frame(c->ctx, c->frame);
}

int px_enc_receive(px_ctx *c) {
	av_packet_unref(c->pkt);
	return avcodec_receive_packet(c->ctx, c->pkt);
}
