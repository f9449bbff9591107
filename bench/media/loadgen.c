/*
 * Load generator and sink for bench/media/sessions.ts (compiled at bench time; see loadgen.ts).
 * One process on the load core: VP8 simulcast and Opus RTP to PlainTransport producers (comedia),
 * and counting sinks for the consumers, with sendmmsg/recvmmsg so the load core outruns the worker.
 * Packets are built the way bench/lib/rtp-generator.ts builds them: VP8 payload descriptor with the
 * X bit and a 15-bit picture id, keyframes every 2 s and on PLI/FIR, RTCP sender reports twice a
 * second per SSRC, the layer byte and the send time (ms since the epoch, a double behind the mark
 * A7 't' 's' A7) in the payload. Loopback (127.0.0.1) only; it stops by itself after the window.
 *
 * Protocol (stdin lines, stdout JSON lines):
 *   sinks <n>                                   -> {"sinkPorts":[...]}
 *   plan <workerPid> <warmupMs> <windowMs> <seed>
 *   sender <port>                               a socket sending to 127.0.0.1:<port>
 *   video <pt> <activeLayers> <ssrc0> <ssrc1> <ssrc2>   (on the last sender)
 *   audio <pt> <ssrc> [<ptimeMs> <dtx 0|1> <session> <slot 0|1>]   (on the last sender)
 *                                               with dtx 1: turn-taking speech in <session> (see TALK_*)
 *   consumer <sinkIndex> <ssrc> <sourceSsrc> <probe 0|1>
 *   go                                          -> starts sending; the window starts at the line
 *   start                                          or after warmupMs, whichever comes first;
 *                                                  prints the result after the window and exits
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SINKS 4096
#define MAX_SENDERS 4096
#define MAX_TRACKS 16384
#define MAX_STREAMS 8192
#define MAX_CONSUMERS 65536
#define MAP_SIZE (1 << 17)
#define PKT 1500
#define BATCH 64
#define MAX_LAT 4000000

/* CAMERA in fanout.ts: ~150 / 500 / 1,420 kbit/s between keyframes; a keyframe is KEY_FACTOR times the packets */
static const int VIDEO_PPF[3] = {1, 2, 5};
static const int VIDEO_PAYLOAD[3] = {600, 1000, 1150};
static const int KEY_FACTOR = 4;
static const int AUDIO_PAYLOAD = 100;   /* per 20 ms of speech (~40 kbit/s Opus) */
/*
 * Turn-taking (audio with dtx 1): in each session the two participants take turns in a cycle of
 * TALK_CYCLE: slot 0 talks for TALK_SPURT, a pause, slot 1 talks for TALK_SPURT, a pause (each talks
 * 44 % of the time, never both), at a phase of the session's own. A participant who is not talking
 * sends what Opus DTX sends: one small packet every DTX_INTERVAL.
 */
static const int64_t TALK_CYCLE = 8000000000LL, TALK_SPURT = 3500000000LL, DTX_INTERVAL = 400000000LL;
static const int DTX_PAYLOAD = 20;

typedef struct { int fd; int port; } Sender;
typedef struct {
  uint32_t ssrc; int sender; int audio; int layer; int pt; int active;
  uint16_t seq; uint32_t ts; uint64_t sent, octets; int forceKey;
  uint64_t sent0, sent1;
} Track;
typedef struct {
  int sender; int audio; int tracks[3]; int ntracks;
  int64_t period, due, nextKey, nextSr; uint16_t pictureId; uint32_t ts;
  int dtx, slot, session; int64_t talkPhase, nextDtx; uint32_t tsStep; int payload;
} Stream;
typedef struct { int sink; uint32_t ssrc; int track; int probe; uint64_t recv, recv0, recv1; } Consumer;

static Sender senders[MAX_SENDERS]; static int nsenders;
static Track tracks[MAX_TRACKS]; static int ntracks;
static Stream streams[MAX_STREAMS]; static int nstreams;
static Consumer consumers[MAX_CONSUMERS]; static int nconsumers;
static int sinkFd[MAX_SINKS]; static int sinkPort[MAX_SINKS]; static uint32_t sinkOvfl[MAX_SINKS]; static int nsinks;
static uint32_t mapKey[MAP_SIZE]; static int mapVal[MAP_SIZE]; /* consumer ssrc -> index+1 */
static uint32_t tmapKey[MAP_SIZE]; static int tmapVal[MAP_SIZE]; /* track ssrc -> index+1 */
static float *lat; static long nlat; static int collecting;
static unsigned talkSeed;
static uint64_t other; static double maxLateMs; static long lateEvents; static long keyReqs; static long sendErrors;

static int64_t mono_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec; }
static double epoch_ms(void) { struct timespec t; clock_gettime(CLOCK_REALTIME, &t); return t.tv_sec * 1000.0 + t.tv_nsec / 1e6; }

static void map_put(uint32_t *keys, int *vals, uint32_t k, int v) {
  uint32_t h = (k * 2654435761u) & (MAP_SIZE - 1);
  while (vals[h] && keys[h] != k) h = (h + 1) & (MAP_SIZE - 1);
  keys[h] = k; vals[h] = v + 1;
}
static int map_get(uint32_t *keys, int *vals, uint32_t k) {
  uint32_t h = (k * 2654435761u) & (MAP_SIZE - 1);
  while (vals[h]) { if (keys[h] == k) return vals[h] - 1; h = (h + 1) & (MAP_SIZE - 1); }
  return -1;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }
static void put32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }
static void putDouble(uint8_t *p, double d) { uint64_t u; memcpy(&u, &d, 8); for (int i = 7; i >= 0; i--) { p[i] = u & 0xff; u >>= 8; } }
static double getDouble(const uint8_t *p) { uint64_t u = 0; for (int i = 0; i < 8; i++) u = (u << 8) | p[i]; double d; memcpy(&d, &u, 8); return d; }

static uint8_t out[BATCH][PKT];
static struct mmsghdr outMsg[BATCH];
static struct iovec outIov[BATCH];

static int rtp_header(uint8_t *p, Track *t, uint32_t ts, int marker) {
  p[0] = 0x80; p[1] = (marker ? 0x80 : 0) | t->pt;
  put16(p + 2, t->seq); t->seq++;
  put32(p + 4, ts); put32(p + 8, t->ssrc);
  return 12;
}

static void flush(int sender, int n) {
  if (n == 0) return;
  for (int i = 0; i < n; i++) { outMsg[i].msg_hdr.msg_iov = &outIov[i]; outMsg[i].msg_hdr.msg_iovlen = 1; }
  int done = 0;
  while (done < n) {
    int r = sendmmsg(senders[sender].fd, outMsg + done, n - done, 0);
    if (r <= 0) { if (errno == EINTR) continue; sendErrors += n - done; break; }
    done += r;
  }
}

static void send_sr(Stream *s, Track *t) {
  uint8_t *p = out[0];
  double now = epoch_ms() + 2208988800000.0; /* NTP epoch is 1900 */
  p[0] = 0x80; p[1] = 200; put16(p + 2, 6); put32(p + 4, t->ssrc);
  uint64_t secs = (uint64_t)(now / 1000.0);
  put32(p + 8, (uint32_t)secs);
  put32(p + 12, (uint32_t)(((now - secs * 1000.0) / 1000.0) * 4294967296.0));
  put32(p + 16, s->ts); put32(p + 20, (uint32_t)t->sent); put32(p + 24, (uint32_t)t->octets);
  outIov[0].iov_base = p; outIov[0].iov_len = 28;
  flush(s->sender, 1);
}

static void emit(Stream *s, int64_t now) {
  int n = 0;
  double sendTime = epoch_ms();
  if (s->audio) {
    Track *t = &tracks[s->tracks[0]];
    s->ts += s->tsStep;
    int payload = s->payload;
    if (s->dtx) {
      int64_t inCycle = (now + s->talkPhase) % TALK_CYCLE;
      int64_t talkStart = s->slot ? TALK_CYCLE / 2 : 0;
      int talking = inCycle >= talkStart && inCycle < talkStart + TALK_SPURT;
      if (talking) s->nextDtx = now + DTX_INTERVAL;
      else if (now < s->nextDtx) goto reports;
      else { s->nextDtx = now + DTX_INTERVAL; payload = DTX_PAYLOAD; }
    }
    uint8_t *p = out[n];
    int off = rtp_header(p, t, s->ts, 0);
    memset(p + off, 0, payload);
    p[off] = 0xa7; p[off + 1] = 't'; p[off + 2] = 's'; p[off + 3] = 0xa7;
    putDouble(p + off + 4, sendTime);
    outIov[n].iov_base = p; outIov[n].iov_len = off + payload; n++;
    t->sent++; t->octets += payload;
  } else {
    int periodicKey = now >= s->nextKey;
    if (periodicKey) s->nextKey += 2000000000LL;
    s->pictureId = (s->pictureId + 1) & 0x7fff;
    s->ts += 3000;
    for (int l = 0; l < s->ntracks; l++) {
      Track *t = &tracks[s->tracks[l]];
      if (!t->active) continue;
      int key = periodicKey || t->forceKey;
      t->forceKey = 0;
      int ppf = VIDEO_PPF[l] * (key ? KEY_FACTOR : 1);
      for (int i = 0; i < ppf; i++) {
        uint8_t *p = out[n];
        int off = rtp_header(p, t, s->ts, i == ppf - 1);
        p[off] = 0x90; p[off + 1] = 0x80; put16(p + off + 2, 0x8000 | s->pictureId);
        p[off + 4] = (key && i == 0) ? 0x00 : 0x01;
        p[off + 5] = (uint8_t)l;
        p[off + 6] = 0xa7; p[off + 7] = 't'; p[off + 8] = 's'; p[off + 9] = 0xa7;
        putDouble(p + off + 10, sendTime);
        int len = off + 4 + 1 + 1 + 12 + VIDEO_PAYLOAD[l];
        memset(p + off + 18, 0, len - off - 18);
        outIov[n].iov_base = p; outIov[n].iov_len = len; n++;
        t->sent++; t->octets += VIDEO_PAYLOAD[l];
      }
    }
  }
reports:
  flush(s->sender, n);
  if (now >= s->nextSr) {
    s->nextSr += 500000000LL;
    for (int l = 0; l < s->ntracks; l++) if (tracks[s->tracks[l]].active) send_sr(s, &tracks[s->tracks[l]]);
  }
}

static uint8_t in[BATCH][PKT];
static char inCtl[BATCH][64];
static struct mmsghdr inMsg[BATCH];
static struct iovec inIov[BATCH];

static void on_sink(int idx) {
  for (;;) {
    for (int i = 0; i < BATCH; i++) {
      inIov[i].iov_base = in[i]; inIov[i].iov_len = PKT;
      memset(&inMsg[i].msg_hdr, 0, sizeof(struct msghdr));
      inMsg[i].msg_hdr.msg_iov = &inIov[i]; inMsg[i].msg_hdr.msg_iovlen = 1;
      inMsg[i].msg_hdr.msg_control = inCtl[i]; inMsg[i].msg_hdr.msg_controllen = sizeof inCtl[i];
    }
    int r = recvmmsg(sinkFd[idx], inMsg, BATCH, MSG_DONTWAIT, NULL);
    if (r <= 0) return;
    double now = 0;
    for (int i = 0; i < r; i++) {
      struct msghdr *h = &inMsg[i].msg_hdr;
      for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) memcpy(&sinkOvfl[idx], CMSG_DATA(c), 4);
      unsigned len = inMsg[i].msg_len;
      uint8_t *p = in[i];
      if (len < 12) { other++; continue; }
      int pt = p[1] & 0x7f;
      if (pt >= 72 && pt <= 79) { other++; continue; } /* RTCP */
      uint32_t ssrc = ((uint32_t)p[8] << 24) | (p[9] << 16) | (p[10] << 8) | p[11];
      int ci = map_get(mapKey, mapVal, ssrc);
      if (ci < 0) { other++; continue; }
      consumers[ci].recv++;
      if (consumers[ci].probe && collecting && nlat < MAX_LAT) {
        for (unsigned o = 12; o + 12 <= len && o < 48; o++) {
          if (p[o] == 0xa7 && p[o + 1] == 't' && p[o + 2] == 's' && p[o + 3] == 0xa7) {
            if (now == 0) now = epoch_ms();
            lat[nlat++] = (float)(now - getDouble(p + o + 4));
            break;
          }
        }
      }
    }
    if (r < BATCH) return;
  }
}

static void on_sender(int idx) {
  for (;;) {
    for (int i = 0; i < BATCH; i++) {
      inIov[i].iov_base = in[i]; inIov[i].iov_len = PKT;
      memset(&inMsg[i].msg_hdr, 0, sizeof(struct msghdr));
      inMsg[i].msg_hdr.msg_iov = &inIov[i]; inMsg[i].msg_hdr.msg_iovlen = 1;
    }
    int r = recvmmsg(senders[idx].fd, inMsg, BATCH, MSG_DONTWAIT, NULL);
    if (r <= 0) return;
    for (int i = 0; i < r; i++) {
      uint8_t *p = in[i]; unsigned len = inMsg[i].msg_len, off = 0;
      while (off + 4 <= len) {
        int fmt = p[off] & 0x1f, pt = p[off + 1];
        unsigned plen = ((p[off + 2] << 8 | p[off + 3]) + 1) * 4;
        if (pt == 206 && (fmt == 1 || fmt == 4) && off + (fmt == 1 ? 12u : 16u) <= len) {
          const uint8_t *q = p + off + (fmt == 1 ? 8 : 12);
          uint32_t ssrc = ((uint32_t)q[0] << 24) | (q[1] << 16) | (q[2] << 8) | q[3];
          int ti = map_get(tmapKey, tmapVal, ssrc);
          if (ti >= 0) { tracks[ti].forceKey = 1; keyReqs++; }
        }
        off += plen;
      }
    }
    if (r < BATCH) return;
  }
}

static double proc_cpu_s(int pid) {
  char path[64], buf[4096]; snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r"); if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f); fclose(f); buf[n] = 0;
  char *s = strrchr(buf, ')'); if (!s) return -1;
  s += 2; unsigned long long ut = 0, st = 0; int field = 0; char *tok = strtok(s, " ");
  while (tok) { if (field == 11) ut = strtoull(tok, 0, 10); if (field == 12) { st = strtoull(tok, 0, 10); break; } field++; tok = strtok(0, " "); }
  return (ut + st) / (double)sysconf(_SC_CLK_TCK);
}
static double self_cpu_s(void) { struct rusage u; getrusage(RUSAGE_SELF, &u); return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6; }
/* busy and total jiffies of cpuN from /proc/stat */
static void core_jiffies(int cpu, double *busy, double *total) {
  char want[16], line[512]; snprintf(want, sizeof want, "cpu%d ", cpu);
  *busy = *total = 0; FILE *f = fopen("/proc/stat", "r"); if (!f) return;
  while (fgets(line, sizeof line, f)) if (!strncmp(line, want, strlen(want))) {
    unsigned long long v[10] = {0}; sscanf(line + strlen(want), "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
    for (int i = 0; i < 8; i++) *total += v[i];
    *busy = *total - v[3] - v[4];
  }
  fclose(f);
}
static long long udp_rcvbuf_errors(void) {
  char line[1024], head[1024]; FILE *f = fopen("/proc/net/snmp", "r"); if (!f) return -1; long long res = -1;
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, "Udp: ", 5) && strstr(line, "RcvbufErrors")) {
      strcpy(head, line);
      if (!fgets(line, sizeof line, f)) break;
      int col = 0, want = -1; char *save, *t = strtok_r(head, " \n", &save);
      while (t) { if (!strcmp(t, "RcvbufErrors")) want = col; col++; t = strtok_r(0, " \n", &save); }
      col = 0; t = strtok_r(line, " \n", &save);
      while (t) { if (col == want) res = atoll(t); col++; t = strtok_r(0, " \n", &save); }
      break;
    }
  }
  fclose(f); return res;
}
static uint64_t sink_drops(void) { uint64_t s = 0; for (int i = 0; i < nsinks; i++) s += sinkOvfl[i]; return s; }
static int cmpf(const void *a, const void *b) { float x = *(const float *)a, y = *(const float *)b; return x < y ? -1 : x > y; }

static int udp_socket(int port_to_connect) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); exit(2); }
  if (port_to_connect) { a.sin_port = htons(port_to_connect); if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); exit(2); } }
  return fd;
}

int main(void) {
  char line[512];
  int workerPid = 0; long warmupMs = 1000, windowMs = 1000; unsigned seed = 1;
  int ep = epoll_create1(0);
  while (fgets(line, sizeof line, stdin)) {
    int a, b, c, d, e, f; unsigned u0, u1, u2;
    if (sscanf(line, "sinks %d", &a) == 1) {
      if (a > MAX_SINKS) a = MAX_SINKS;
      printf("{\"sinkPorts\":[");
      for (int i = 0; i < a; i++) {
        int fd = udp_socket(0), one = 1, rb = 1 << 20;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof rb);
        setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
        struct sockaddr_in s; socklen_t sl = sizeof s; getsockname(fd, (struct sockaddr *)&s, &sl);
        sinkFd[nsinks] = fd; sinkPort[nsinks] = ntohs(s.sin_port);
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)nsinks};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        printf("%s%d", i ? "," : "", sinkPort[nsinks]); nsinks++;
      }
      printf("]}\n"); fflush(stdout);
    } else if (sscanf(line, "plan %d %d %d %u", &workerPid, &a, &b, &seed) == 4) {
      warmupMs = a; windowMs = b; talkSeed = seed;
    } else if (sscanf(line, "sender %d", &a) == 1 && nsenders < MAX_SENDERS) {
      senders[nsenders].fd = udp_socket(a); senders[nsenders].port = a;
      struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (1ULL << 32) | (uint64_t)nsenders};
      epoll_ctl(ep, EPOLL_CTL_ADD, senders[nsenders].fd, &ev);
      nsenders++;
    } else if (sscanf(line, "video %d %d %u %u %u", &a, &b, &u0, &u1, &u2) == 5 && nsenders > 0 && ntracks + 3 <= MAX_TRACKS) {
      Stream *s = &streams[nstreams++]; memset(s, 0, sizeof *s);
      s->sender = nsenders - 1; s->audio = 0; s->ntracks = 3; s->period = 1000000000LL / 30;
      uint32_t ss[3] = {u0, u1, u2};
      for (int l = 0; l < 3; l++) {
        Track *t = &tracks[ntracks]; memset(t, 0, sizeof *t);
        t->ssrc = ss[l]; t->sender = s->sender; t->layer = l; t->pt = a; t->active = l < b; t->seq = rand_r(&seed) & 0xffff;
        map_put(tmapKey, tmapVal, t->ssrc, ntracks); s->tracks[l] = ntracks++;
      }
    } else if ((c = sscanf(line, "audio %d %u %d %d %d %d", &a, &u0, &b, &d, &e, &f)) >= 2 && nsenders > 0 && ntracks < MAX_TRACKS) {
      Stream *s = &streams[nstreams++]; memset(s, 0, sizeof *s);
      int ptime = c >= 3 && b > 0 ? b : 20;
      s->sender = nsenders - 1; s->audio = 1; s->ntracks = 1; s->period = ptime * 1000000LL;
      s->tsStep = 48 * ptime; s->payload = AUDIO_PAYLOAD * ptime / 20;
      if (c == 6 && d) { s->dtx = 1; s->session = e; s->slot = f; }
      Track *t = &tracks[ntracks]; memset(t, 0, sizeof *t);
      t->ssrc = u0; t->sender = s->sender; t->audio = 1; t->pt = a; t->active = 1; t->seq = rand_r(&seed) & 0xffff;
      map_put(tmapKey, tmapVal, t->ssrc, ntracks); s->tracks[0] = ntracks++;
    } else if (sscanf(line, "consumer %d %u %u %d", &a, &u0, &u1, &d) == 4 && nconsumers < MAX_CONSUMERS) {
      Consumer *k = &consumers[nconsumers]; memset(k, 0, sizeof *k);
      k->sink = a; k->ssrc = u0; k->probe = d; k->track = map_get(tmapKey, tmapVal, u1);
      map_put(mapKey, mapVal, u0, nconsumers++);
    } else if (!strncmp(line, "go", 2)) {
      break;
    }
    (void)c;
  }
  lat = malloc(sizeof(float) * MAX_LAT);
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  struct epoll_event sev = {.events = EPOLLIN, .data.u64 = 2ULL << 32};
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &sev);
  int startNow = 0;
  int64_t start = mono_ns();
  for (int i = 0; i < nstreams; i++) { /* random phases: participants do not send in lockstep */
    Stream *s = &streams[i];
    s->due = start + (int64_t)(rand_r(&seed) % 1000) * (s->period / 1000);
    /* A keyframe on the first frame, then every 2 s at a phase of its own: encoders are not in step. */
    s->nextKey = s->due - (int64_t)(rand_r(&seed) % 2000) * 1000000LL; s->nextSr = s->due;
    /* Both participants of a session share its phase (from the session number and the plan's seed). */
    if (s->dtx) s->talkPhase = (int64_t)((((uint32_t)s->session + talkSeed) * 2654435761u) % 8000u) * 1000000LL;
  }
  int64_t t0 = start + warmupMs * 1000000LL, t1 = t0 + windowMs * 1000000LL;
  int phase = 0; /* 0 warm-up, 1 window */
  double wcpu0 = 0, scpu0 = 0, c0b0 = 0, c0t0 = 0, c1b0 = 0, c1t0 = 0; long long udp0 = 0; uint64_t drops0 = 0;
  double wcpu1 = 0, scpu1 = 0, c0b1 = 0, c0t1 = 0, c1b1 = 0, c1t1 = 0; long long udp1 = 0; uint64_t drops1 = 0;
  struct epoll_event evs[256];
  for (;;) {
    int64_t now = mono_ns();
    if (phase == 0 && (now >= t0 || startNow)) {
      wcpu0 = proc_cpu_s(workerPid); scpu0 = self_cpu_s(); core_jiffies(0, &c0b0, &c0t0); core_jiffies(1, &c1b0, &c1t0);
      udp0 = udp_rcvbuf_errors(); drops0 = sink_drops();
      for (int i = 0; i < ntracks; i++) tracks[i].sent0 = tracks[i].sent;
      for (int i = 0; i < nconsumers; i++) consumers[i].recv0 = consumers[i].recv;
      collecting = 1; phase = 1; t0 = now; t1 = t0 + windowMs * 1000000LL;
    } else if (phase == 1 && now >= t1) {
      wcpu1 = proc_cpu_s(workerPid); scpu1 = self_cpu_s(); core_jiffies(0, &c0b1, &c0t1); core_jiffies(1, &c1b1, &c1t1);
      udp1 = udp_rcvbuf_errors(); drops1 = sink_drops();
      for (int i = 0; i < ntracks; i++) tracks[i].sent1 = tracks[i].sent;
      for (int i = 0; i < nconsumers; i++) consumers[i].recv1 = consumers[i].recv;
      t1 = now;
      break;
    }
    int64_t nextDue = now + 1000000000LL;
    for (int i = 0; i < nstreams; i++) {
      Stream *s = &streams[i];
      if (s->due <= now) {
        double late = (now - s->due) / 1e6;
        if (phase == 1) { if (late > maxLateMs) maxLateMs = late; if (late > 5) lateEvents++; }
        emit(s, now);
        s->due += s->period;
        if (s->due < now - 1000000000LL) s->due = now; /* more than 1 s behind: do not burst to catch up */
      }
      if (s->due < nextDue) nextDue = s->due;
    }
    now = mono_ns();
    int timeout = nextDue <= now ? 0 : (int)((nextDue - now + 999999) / 1000000);
    int n = epoll_wait(ep, evs, 256, timeout);
    for (int i = 0; i < n; i++) {
      uint64_t tag = evs[i].data.u64;
      if ((tag >> 32) == 2) { char b[256]; ssize_t r = read(0, b, sizeof b); if (r > 0 && memmem(b, r, "start", 5)) startNow = 1; if (r == 0) epoll_ctl(ep, EPOLL_CTL_DEL, 0, 0); }
      else if (tag >> 32) on_sender((int)(tag & 0xffffffff)); else on_sink((int)tag);
    }
  }
  double secs = (t1 - t0) / 1e9;
  uint64_t sentMedia = 0, expV = 0, expA = 0, recV = 0, recA = 0, probeRecv = 0; int stalled = 0;
  for (int i = 0; i < ntracks; i++) sentMedia += tracks[i].sent1 - tracks[i].sent0;
  for (int i = 0; i < nconsumers; i++) {
    Consumer *k = &consumers[i];
    uint64_t got = k->recv1 - k->recv0, exp = k->track >= 0 ? tracks[k->track].sent1 - tracks[k->track].sent0 : 0;
    if (got == 0 && exp > 0) stalled++;
    if (k->track >= 0 && tracks[k->track].audio) { expA += exp; recA += got; } else { expV += exp; recV += got; }
    if (k->probe) probeRecv += got;
  }
  qsort(lat, nlat, sizeof(float), cmpf);
  printf("{\"tool\":\"c\",\"windowS\":%.3f,\"workerCpuS\":%.3f,\"loadCpuS\":%.3f,\"core0BusyPercent\":%.1f,\"core1BusyPercent\":%.1f,"
         "\"sentMedia\":%llu,\"expectedVideo\":%llu,\"receivedVideo\":%llu,\"expectedAudio\":%llu,\"receivedAudio\":%llu,\"probeReceived\":%llu,"
         "\"stalledConsumers\":%d,\"otherReceived\":%llu,\"sinkDrops\":%llu,\"udpRcvbufErrors\":%lld,\"maxLateMs\":%.2f,\"lateEvents\":%ld,"
         "\"keyframeRequests\":%ld,\"sendErrors\":%ld,\"latencyCount\":%ld,\"latencyCdfMs\":[",
         secs, wcpu1 - wcpu0, scpu1 - scpu0, c0t1 > c0t0 ? 100.0 * (c0b1 - c0b0) / (c0t1 - c0t0) : -1, c1t1 > c1t0 ? 100.0 * (c1b1 - c1b0) / (c1t1 - c1t0) : -1,
         (unsigned long long)sentMedia, (unsigned long long)expV, (unsigned long long)recV, (unsigned long long)expA, (unsigned long long)recA,
         (unsigned long long)probeRecv, stalled, (unsigned long long)other, (unsigned long long)(drops1 - drops0), udp0 >= 0 && udp1 >= 0 ? udp1 - udp0 : -1,
         maxLateMs, lateEvents, keyReqs, sendErrors, nlat);
  for (int p = 0; p <= 100; p += 5) {
    double v = nlat ? lat[p == 100 ? nlat - 1 : (long)((p / 100.0) * nlat)] : -1;
    printf("%s%.3f", p ? "," : "", v);
  }
  double p99 = nlat ? lat[(long)(0.99 * nlat) < nlat ? (long)(0.99 * nlat) : nlat - 1] : -1;
  printf("],\"latencyP99Ms\":%.3f", p99);
  if (getenv("LOADGEN_DEBUG")) {
    printf(",\"perConsumer\":[");
    for (int i = 0; i < nconsumers; i++) {
      Consumer *k = &consumers[i];
      printf("%s[%u,%u,%llu,%llu]", i ? "," : "", k->ssrc, k->track >= 0 ? tracks[k->track].ssrc : 0, (unsigned long long)(k->recv1 - k->recv0),
             (unsigned long long)(k->track >= 0 ? tracks[k->track].sent1 - tracks[k->track].sent0 : 0));
    }
    printf("]");
  }
  printf("}\n");
  fflush(stdout);
  return 0;
}
