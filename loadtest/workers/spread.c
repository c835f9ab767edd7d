// spread: how the kernel spreads TCP connections over N SO_REUSEPORT listeners on one port,
// against one acceptor that hands each fd to the least-loaded worker (groundwork for --workers).
//
//   spread reuseport|acceptor N PORT
//
// reuseport: N threads, each with its own SO_REUSEPORT listener on 127.0.0.1:PORT (as the
// engine's listen() does with reuse_port), each blocking in accept() and keeping what it gets.
// acceptor: one listener; its thread gives every accepted fd to the worker with the fewest live
// connections (the count is the decision; the fd is kept in that worker's table).
//
// Commands on stdin, one per line; each answers one line on stdout:
//   count        -> "counts c0 c1 ... cN-1"       live connections per worker
//   accepted     -> "accepted a0 a1 ... aN-1"     accepts per worker since the last reset
//   reset        -> "ok"                          zeroes the accept counters
//   drop W P     -> "dropped K"                   closes (RST) P percent of worker W's connections
//   quit
// Loopback only: it binds 127.0.0.1.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXW 64
#define MAXC 20000

static int nworkers, port, acceptor_mode;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int *fds[MAXW];
static int live[MAXW];
static long accepted[MAXW];

static int make_listener(int reuse) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4096) < 0) {
    perror("bind/listen");
    exit(1);
  }
  return fd;
}

static void keep(int w, int c) {
  if (live[w] >= MAXC) {
    close(c);
    return;
  }
  fds[w][live[w]++] = c;
  accepted[w]++;
}

static int listeners[MAXW];

static void *reuse_thread(void *arg) {
  int w = (int)(long)arg;
  for (;;) {
    int c = accept4(listeners[w], NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      perror("accept");
      sleep(1);
      continue;
    }
    pthread_mutex_lock(&mu);
    keep(w, c);
    pthread_mutex_unlock(&mu);
  }
  return NULL;
}

static void *acceptor_thread(void *arg) {
  (void)arg;
  for (;;) {
    int c = accept4(listeners[0], NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      perror("accept");
      sleep(1);
      continue;
    }
    pthread_mutex_lock(&mu);
    int best = 0;
    for (int w = 1; w < nworkers; w++)
      if (live[w] < live[best]) best = w;
    keep(best, c);
    pthread_mutex_unlock(&mu);
  }
  return NULL;
}

static void print_array(const char *tag, int use_live) {
  printf("%s", tag);
  for (int w = 0; w < nworkers; w++) printf(" %ld", use_live ? (long)live[w] : accepted[w]);
  printf("\n");
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: spread reuseport|acceptor N PORT\n");
    return 2;
  }
  acceptor_mode = strcmp(argv[1], "acceptor") == 0;
  nworkers = atoi(argv[2]);
  port = atoi(argv[3]);
  if (nworkers < 1 || nworkers > MAXW) return 2;
  for (int w = 0; w < nworkers; w++) fds[w] = calloc(MAXC, sizeof(int));
  pthread_t t;
  if (acceptor_mode) {
    listeners[0] = make_listener(0);
    pthread_create(&t, NULL, acceptor_thread, NULL);
  } else {
    for (int w = 0; w < nworkers; w++) listeners[w] = make_listener(1);
    for (int w = 0; w < nworkers; w++) pthread_create(&t, NULL, reuse_thread, (void *)(long)w);
  }
  printf("listening %d\n", port);
  fflush(stdout);
  char line[128];
  while (fgets(line, sizeof line, stdin)) {
    pthread_mutex_lock(&mu);
    if (strncmp(line, "count", 5) == 0) {
      print_array("counts", 1);
    } else if (strncmp(line, "accepted", 8) == 0) {
      print_array("accepted", 0);
    } else if (strncmp(line, "reset", 5) == 0) {
      memset(accepted, 0, sizeof accepted);
      printf("ok\n");
      fflush(stdout);
    } else if (strncmp(line, "drop", 4) == 0) {
      int w = 0, pct = 0;
      sscanf(line + 4, "%d %d", &w, &pct);
      int k = w >= 0 && w < nworkers ? live[w] * pct / 100 : 0;
      struct linger lg = {1, 0};  // RST: no TIME_WAIT left behind on either side
      for (int i = 0; i < k; i++) {
        int c = fds[w][--live[w]];
        setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(c);
      }
      printf("dropped %d\n", k);
      fflush(stdout);
    } else if (strncmp(line, "quit", 4) == 0) {
      pthread_mutex_unlock(&mu);
      break;
    }
    pthread_mutex_unlock(&mu);
  }
  return 0;
}
