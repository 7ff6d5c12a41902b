// Thin C helpers around libavcodec and libswscale. They exist so that Go
// never builds C arrays holding Go pointers (cgo pointer rules) and so that
// each libav call sequence crosses the cgo boundary once.
#ifndef PARALLAX_CODEC_LIBAV_H
#define PARALLAX_CODEC_LIBAV_H

#include <stdint.h>
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libswscale/swscale.h>

#define PX_ERRLEN 256

// px_ctx is one libavcodec context plus the state around it. Its address is
// stored in AVCodecContext.opaque so the log callback can record the first
// error message libavcodec prints while this context works.
typedef struct {
	AVCodecContext *ctx;
	AVFrame *frame;   // decoded picture, or the YUV picture fed to an encoder
	AVPacket *pkt;
	struct SwsContext *sws;
	int64_t next_pts; // encoder: pts of the next frame
	char err[PX_ERRLEN]; // first error logged since px_clear_err
} px_ctx;

void px_init_logging(void);
void px_clear_err(px_ctx *c);

// Decoder.
px_ctx *px_dec_open(int codec_id, int64_t max_pixels, int *averr);
uint8_t *px_dec_packet(px_ctx *c, int size); // a padded packet of size bytes for the caller to fill; NULL if out of memory
int px_dec_send(px_ctx *c);                  // sends the packet filled after px_dec_packet
int px_dec_send_eof(px_ctx *c);
int px_dec_receive(px_ctx *c);        // 0: frame in c->frame; AVERROR(EAGAIN), AVERROR_EOF, or another error
void px_dec_flush(px_ctx *c);
int px_frame_to_rgb(px_ctx *c, uint8_t *dst, int stride); // converts c->frame into packed RGB24

// Encoder.
px_ctx *px_enc_open(const char *name, int width, int height, int fps, int gop, int64_t bitrate,
	const char *preset, const char *profile, int quality, int *averr);
int px_enc_send_rgb(px_ctx *c, const uint8_t *src, int stride);
int px_enc_receive(px_ctx *c); // 0: packet in c->pkt

void px_close(px_ctx *c);

#endif
