/*
** measure.c -- per-repetition counters in tiers (see measure.h).
**
** Layout: names and parsing; the PAPI part (only with RISQ_HAVE_PAPI, set
** by harness/meson.build when PAPI is found); open / begin / end / close;
** the probe, which runs the same open in a forked child.
*/
#include "harness/measure.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef RISQ_HAVE_PAPI
#include <papi.h>
#endif

static const char *const counter_names[MEASURE_NCOUNTERS] = {
  "cycles", "instructions", "cache_misses", "task_clock_ms", "page_faults",
  "context_switches",
};
static const char *const counter_units[MEASURE_NCOUNTERS] = {
  "count", "count", "count", "ms", "count", "count",
};

struct measure {
  measure_tier tier;
  double t0_ms;                       /* CLOCK_MONOTONIC at begin */
#ifdef RISQ_HAVE_PAPI
  int eventset;                       /* PAPI_NULL when none */
  int nev;                            /* events in the set */
  int which[MEASURE_NCOUNTERS];       /* event k -> counter index */
  long long v0[MEASURE_NCOUNTERS];    /* values at begin */
#endif
};

static void errf(char *err, size_t errlen, const char *fmt, ...){
  va_list ap;
  if( err == NULL || errlen == 0 ) return;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static double now_ms(void){
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

const char *measure_tier_name(measure_tier t){
  switch( t ){
    case MEASURE_HARDWARE: return "hardware";
    case MEASURE_SOFTWARE: return "software";
    default:               return "timer";
  }
}

const char *measure_counter_name(int i){
  return i >= 0 && i < MEASURE_NCOUNTERS ? counter_names[i] : "?";
}

const char *measure_counter_unit(int i){
  return i >= 0 && i < MEASURE_NCOUNTERS ? counter_units[i] : "?";
}

int measure_parse_tier(const char *s, int *tier, char *err, size_t errlen){
  if( s && strcmp(s, "auto") == 0 ){ *tier = MEASURE_AUTO; return 0; }
  if( s && strcmp(s, "hardware") == 0 ){ *tier = MEASURE_HARDWARE; return 0; }
  if( s && strcmp(s, "software") == 0 ){ *tier = MEASURE_SOFTWARE; return 0; }
  if( s && strcmp(s, "timer") == 0 ){ *tier = MEASURE_TIMER; return 0; }
  errf(err, errlen, "--counters: '%s' is not one of auto, hardware, "
       "software, timer", s ? s : "");
  return -1;
}

/* ------------------------------------------------------------------ */
/* PAPI                                                                */
/* ------------------------------------------------------------------ */

#ifdef RISQ_HAVE_PAPI

static int papi_ready = 0;

static int papi_init(char *err, size_t errlen){
  if( papi_ready ) return 0;
  int v = PAPI_library_init(PAPI_VER_CURRENT);
  if( v != PAPI_VER_CURRENT ){
    errf(err, errlen, "PAPI_library_init failed: %s",
         v > 0 ? "header and library versions differ" : PAPI_strerror(v));
    return -1;
  }
  papi_ready = 1;
  return 0;
}

/* Add event `name` counting into counter index `idx`.  Returns 0 when
** added, else -1 with the reason in err. */
static int add_event(measure *m, const char *name, int idx,
                     char *err, size_t errlen){
  int rc = PAPI_add_named_event(m->eventset, name);
  if( rc != PAPI_OK ){
    errf(err, errlen, "%s: %s", name, PAPI_strerror(rc));
    return -1;
  }
  m->which[m->nev++] = idx;
  return 0;
}

static void papi_release(measure *m){
  if( m->eventset != PAPI_NULL ){
    long long junk[MEASURE_NCOUNTERS];
    int state = 0;
    if( PAPI_state(m->eventset, &state) == PAPI_OK && (state & PAPI_RUNNING) )
      PAPI_stop(m->eventset, junk);
    PAPI_cleanup_eventset(m->eventset);
    PAPI_destroy_eventset(&m->eventset);
    m->eventset = PAPI_NULL;
  }
  m->nev = 0;
}

/* Build and start the event set of tier t (hardware or software). */
static int papi_open_tier(measure *m, measure_tier t, char *err, size_t errlen){
  char why[256];
  int rc;
  if( papi_init(err, errlen) ) return -1;
  m->eventset = PAPI_NULL;
  m->nev = 0;
  rc = PAPI_create_eventset(&m->eventset);
  if( rc != PAPI_OK ){
    errf(err, errlen, "PAPI_create_eventset: %s", PAPI_strerror(rc));
    m->eventset = PAPI_NULL;
    return -1;
  }
  if( t == MEASURE_HARDWARE ){
    if( add_event(m, "PAPI_TOT_CYC", MEASURE_CYCLES, err, errlen)
     || add_event(m, "PAPI_TOT_INS", MEASURE_INSTRUCTIONS, err, errlen) ){
      papi_release(m);
      return -1;
    }
    if( add_event(m, "PAPI_L1_DCM", MEASURE_CACHE_MISSES, why, sizeof why) )
      add_event(m, "PAPI_L2_TCM", MEASURE_CACHE_MISSES, why, sizeof why);
  }else{
    if( add_event(m, "perf::TASK-CLOCK", MEASURE_TASK_CLOCK_MS, err, errlen) ){
      papi_release(m);
      return -1;
    }
  }
  /* Optional software events (the hardware tier takes them too). */
  if( t == MEASURE_HARDWARE )
    add_event(m, "perf::TASK-CLOCK", MEASURE_TASK_CLOCK_MS, why, sizeof why);
  add_event(m, "perf::PAGE-FAULTS", MEASURE_PAGE_FAULTS, why, sizeof why);
  add_event(m, "perf::CONTEXT-SWITCHES", MEASURE_CONTEXT_SWITCHES, why,
            sizeof why);
  rc = PAPI_start(m->eventset);
  if( rc != PAPI_OK ){
    errf(err, errlen, "PAPI_start of the %s events: %s", measure_tier_name(t),
         PAPI_strerror(rc));
    papi_release(m);
    return -1;
  }
  return 0;
}

#endif /* RISQ_HAVE_PAPI */

/* Try to open exactly tier t into m.  The timer tier never fails. */
static int open_tier(measure *m, measure_tier t, char *err, size_t errlen){
  m->tier = t;
#ifdef RISQ_HAVE_PAPI
  m->eventset = PAPI_NULL;
  m->nev = 0;
  if( t == MEASURE_TIMER ) return 0;
  return papi_open_tier(m, t, err, errlen);
#else
  if( t == MEASURE_TIMER ) return 0;
  errf(err, errlen, "risq was built without PAPI (meson option -Dpapi)");
  return -1;
#endif
}

static void close_tier(measure *m){
#ifdef RISQ_HAVE_PAPI
  papi_release(m);
#else
  (void)m;
#endif
}

/* ------------------------------------------------------------------ */
/* open / begin / end / close                                          */
/* ------------------------------------------------------------------ */

int measure_open(int want, measure **out, char *err, size_t errlen){
  measure *m;
  char why[512] = "";
  *out = NULL;
  if( want != MEASURE_AUTO && (want < MEASURE_TIMER || want > MEASURE_HARDWARE) ){
    errf(err, errlen, "measure_open: unknown counter tier %d", want);
    return -1;
  }
  m = calloc(1, sizeof *m);
  if( m == NULL ){
    errf(err, errlen, "out of memory opening counters");
    return -1;
  }
  if( want == MEASURE_AUTO ){
    for(int t = MEASURE_HARDWARE; t >= MEASURE_TIMER; t--){
      if( open_tier(m, (measure_tier)t, why, sizeof why) == 0 ){
        *out = m;
        return 0;
      }
    }
    /* not reached: the timer tier always opens */
    free(m);
    errf(err, errlen, "no counter tier could be opened");
    return -1;
  }
  if( open_tier(m, (measure_tier)want, why, sizeof why) == 0 ){
    *out = m;
    return 0;
  }
  /* Name the best tier that does work, so the user can choose it. */
  {
    measure_tier avail = MEASURE_TIMER;
    char junk[256];
    for(int t = want - 1; t > MEASURE_TIMER; t--){
      if( open_tier(m, (measure_tier)t, junk, sizeof junk) == 0 ){
        close_tier(m);
        avail = (measure_tier)t;
        break;
      }
    }
    errf(err, errlen, "counter tier '%s' is not available on this machine "
         "(%s); the best available tier is '%s' (use --counters %s or "
         "--counters auto)", measure_tier_name((measure_tier)want), why,
         measure_tier_name(avail), measure_tier_name(avail));
  }
  free(m);
  return -1;
}

measure_tier measure_get_tier(const measure *m){
  return m ? m->tier : MEASURE_TIMER;
}

int measure_begin(measure *m, char *err, size_t errlen){
#ifdef RISQ_HAVE_PAPI
  if( m->nev > 0 ){
    int rc = PAPI_read(m->eventset, m->v0);
    if( rc != PAPI_OK ){
      errf(err, errlen, "PAPI_read: %s", PAPI_strerror(rc));
      return -1;
    }
  }
#else
  (void)err; (void)errlen;
#endif
  m->t0_ms = now_ms();
  return 0;
}

int measure_end(measure *m, measure_reading *r, char *err, size_t errlen){
  double t1 = now_ms();
  r->elapsed_ms = t1 - m->t0_ms;
  for(int i = 0; i < MEASURE_NCOUNTERS; i++) r->counter[i] = NAN;
#ifdef RISQ_HAVE_PAPI
  if( m->nev > 0 ){
    long long v1[MEASURE_NCOUNTERS];
    int rc = PAPI_read(m->eventset, v1);
    if( rc != PAPI_OK ){
      errf(err, errlen, "PAPI_read: %s", PAPI_strerror(rc));
      return -1;
    }
    for(int k = 0; k < m->nev; k++){
      double d = (double)(v1[k] - m->v0[k]);
      int idx = m->which[k];
      r->counter[idx] = idx == MEASURE_TASK_CLOCK_MS ? d / 1e6 : d;   /* ns */
    }
  }
#else
  (void)err; (void)errlen;
#endif
  return 0;
}

void measure_close(measure *m){
  if( m == NULL ) return;
  close_tier(m);
  free(m);
}

/* ------------------------------------------------------------------ */
/* probe                                                               */
/* ------------------------------------------------------------------ */

/* In this process: the best tier, with the reasons of the failures. */
static measure_tier probe_here(char *why, size_t whylen){
  measure m;
  char e1[256] = "", e2[256] = "";
  memset(&m, 0, sizeof m);
  if( open_tier(&m, MEASURE_HARDWARE, e1, sizeof e1) == 0 ){
    close_tier(&m);
    errf(why, whylen, "%s", "");
    return MEASURE_HARDWARE;
  }
  if( open_tier(&m, MEASURE_SOFTWARE, e2, sizeof e2) == 0 ){
    close_tier(&m);
    errf(why, whylen, "no hardware counters (%s)", e1);
    return MEASURE_SOFTWARE;
  }
  errf(why, whylen, "no hardware counters (%s); no software counters (%s)",
       e1, e2);
  return MEASURE_TIMER;
}

measure_tier measure_probe(char *why, size_t whylen){
  int pfd[2];
  pid_t pid;
  char buf[600];
  size_t got = 0;
  int status = 0;

  errf(why, whylen, "%s", "");
  fflush(NULL);   /* nothing buffered may be written twice by the child */
  if( pipe(pfd) != 0 ){
    errf(why, whylen, "cannot probe counters: pipe: %s", strerror(errno));
    return MEASURE_TIMER;
  }
  pid = fork();
  if( pid < 0 ){
    close(pfd[0]);
    close(pfd[1]);
    errf(why, whylen, "cannot probe counters: fork: %s", strerror(errno));
    return MEASURE_TIMER;
  }
  if( pid == 0 ){
    char msg[600];
    measure_tier t;
    ssize_t w;
    close(pfd[0]);
    t = probe_here(msg + 1, sizeof msg - 1);
    msg[0] = (char)('0' + (int)t);
    w = write(pfd[1], msg, strlen(msg));
    _exit(w > 0 ? 0 : 1);
  }
  close(pfd[1]);
  for(;;){
    ssize_t r = read(pfd[0], buf + got, sizeof buf - 1 - got);
    if( r > 0 ){ got += (size_t)r; if( got >= sizeof buf - 1 ) break; continue; }
    if( r < 0 && errno == EINTR ) continue;
    break;
  }
  close(pfd[0]);
  while( waitpid(pid, &status, 0) < 0 && errno == EINTR ){}
  buf[got] = 0;
  if( got == 0 || buf[0] < '0' || buf[0] > '2' ){
    errf(why, whylen, "the counter probe died (%s)",
         WIFSIGNALED(status) ? "killed by a signal" : "no answer");
    return MEASURE_TIMER;
  }
  errf(why, whylen, "%s", buf + 1);
  return (measure_tier)(buf[0] - '0');
}
