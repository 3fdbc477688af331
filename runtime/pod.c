/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pods: the state directory, the shim that owns each pod's VM, and the
 * operations the CLI offers.
 *
 * STATE/pods/NAME/
 *   pod.json      the record (no secret values) and the status; written
 *                 whole, atomically (temp file + rename), by one writer
 *   disk.img      the pod's ephemeral disk (sparse; the guest encrypts it
 *                 and makes its file system), destroyed by rm
 *   console.log   the guest's serial console
 *   qemu.log      QEMU's stdout and stderr
 *   jail/         where the VMM's jail (a tmpfs in its own mount namespace)
 *                 is mounted: empty as the host sees it
 *   api.sock      the shim's socket for logs, exec, stop and wait
 * QEMU's end of the agent's virtio-serial port is one end of a socketpair
 * whose other end the shim holds: no socket path leads to the guest.
 *
 * The shim is `moat pod run` forked and detached: it starts QEMU (which dies
 * with it), speaks to the agent, keeps pod.json current and serves
 * api.sock.  Everything the guest sends is bounded and checked before use:
 * a pod may be hostile.
 */
#include "runtime.h"

#include "runtime/image_int.h"
#include "runtime/proto.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 16
/* How long a guest has to say hello. */
#ifndef POD_BOOT_TIMEOUT_S
#define POD_BOOT_TIMEOUT_S 60
#endif

static char *pod_dir(const struct pod_options *o, const char *name)
{
	return xasprintf("%s/pods/%s", o->state_dir, name);
}

static long long now_ms_real(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int pod_state_write(const char *dir, json_t *st)
{
	char tmp[4200], path[4200];
	snprintf(tmp, sizeof(tmp), "%s/.pod.json.tmp", dir);
	snprintf(path, sizeof(path), "%s/pod.json", dir);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	char *text = json_dumps(st, JSON_INDENT(2));
	size_t len = text ? strlen(text) : 0;
	int r = text && write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1 &&
			fsync(fd) == 0
		? 0
		: -1;
	free(text);
	close(fd);
	return r == 0 ? rename(tmp, path) : -1;
}

static json_t *pod_state_read(const char *dir, struct moat_error *err)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/pod.json", dir);
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);
	if (!j)
		moat_error_set(err, errno == ENOENT ? ENOENT : EBADMSG, "%s: %s", path, je.text);
	return j;
}

/* Does the record say the pod's VM is up? */
static bool vm_up(json_t *st)
{
	const char *vm = json_string_value(json_object_get(st, "vm"));
	return vm && strcmp(vm, "running") == 0;
}

static bool final_phase(const char *phase)
{
	return phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

/* The pod's address goes back to its port group, if it had one. */
static void net_pod_leave(const char *state_dir, json_t *st)
{
	const char *net = json_string_value(json_object_get(json_object_get(st, "network"), "net"));
	struct moat_error e = { 0 };
	if (net)
		net_release(state_dir, net, json_string_value(json_object_get(st, "name")), &e);
}

/* ---- the shim ------------------------------------------------------------------ */

struct client {
	int fd;
	uint32_t stream; /* the guest stream it is bound to; 0: none yet */
	bool wait;	 /* waits for the pod's end */
};

struct shim {
	const char *dir;
	const char *state_dir;
	json_t *st;
	char *run; /* the RUN message text, until sent; then scrubbed */
	size_t run_len;
	int ctl, api, notify;
	pid_t qemu;
	struct vmm_jail *jail;
	const struct vmm_cgroup *cg;
	struct client clients[MAX_CLIENTS];
	uint32_t next_stream;
	bool stopping;
	bool boot_timed_out;
	long long boot_deadline; /* ms; 0 once the agent said hello */
};

static void shim_save(struct shim *s)
{
	pod_state_write(s->dir, s->st);
}

static void shim_notify(struct shim *s, const char *what)
{
	if (s->notify >= 0) {
		(void)!write(s->notify, what, strlen(what));
		close(s->notify);
		s->notify = -1;
	}
}

static json_t *container_status(struct shim *s, const char *name)
{
	json_t *cs = json_object_get(s->st, "containers");
	return name ? json_object_get(cs, name) : NULL;
}

/* The pod's end: every app container done, none restarting. */
static void shim_finish(struct shim *s, const char *phase, const char *reason)
{
	const char *now = json_string_value(json_object_get(s->st, "phase"));
	if (!final_phase(now)) {
		json_object_set_new(s->st, "phase", json_string(phase));
		if (reason)
			json_object_set_new(s->st, "reason", json_string(reason));
		json_object_set_new(s->st, "finishedAt", json_integer(now_ms_real() / 1000));
		shim_save(s);
	}
	shim_notify(s, phase);
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (s->clients[i].fd > 0 && s->clients[i].wait) {
			char *text = json_dumps(s->st, JSON_COMPACT);
			proto_write(s->clients[i].fd, PROTO_JSON, 0, text, strlen(text));
			free(text);
			close(s->clients[i].fd);
			s->clients[i].fd = 0;
		}
}

int guest_event_parse(const void *data, size_t len, struct guest_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	json_error_t je;
	json_t *m = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	const char *type = json_string_value(json_object_get(m, "type"));
	if (!json_is_object(m) || !type) {
		json_decref(m);
		return -1;
	}
	static const char *const names[] = {
		[GE_HELLO] = "hello",	  [GE_STARTED] = "started", [GE_EXITED] = "exited",
		[GE_DONE] = "podDone",	  [GE_FAILED] = "podFailed", [GE_LOG] = "log",
		[GE_EXIT] = "exit",	  [GE_ERROR] = "error",
	};
	ev->type = GE_UNKNOWN;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (names[i] && strcmp(type, names[i]) == 0)
			ev->type = (enum guest_event_type)i;
	/* Numbers are clamped to what they can mean; strings are bounded. */
	json_t *v = json_object_get(m, "bootMs");
	ev->boot_ms = json_is_integer(v) ? json_integer_value(v) : 0;
	if (ev->boot_ms < 0 || ev->boot_ms > 86400000ll * 365)
		ev->boot_ms = 0;
	v = json_object_get(m, "readyMs");
	ev->ready_ms = json_is_integer(v) ? json_integer_value(v) : 0;
	if (ev->ready_ms < 0 || ev->ready_ms > 86400000ll * 365)
		ev->ready_ms = 0;
	v = json_object_get(m, "exitCode");
	ev->exit_code = json_is_integer(v) ? json_integer_value(v) : 255;
	if (ev->exit_code < 0 || ev->exit_code > 255 + 128)
		ev->exit_code = 255;
	v = json_object_get(m, "restarts");
	ev->restarts = json_is_integer(v) ? json_integer_value(v) : 0;
	if (ev->restarts < 0 || ev->restarts > 1000000)
		ev->restarts = 0;
	ev->restarting = json_is_true(json_object_get(m, "restarting"));
	const char *c = json_string_value(json_object_get(m, "container"));
	if (c && strlen(c) < sizeof(ev->container))
		memcpy(ev->container, c, strlen(c) + 1);
	const char *msg = json_string_value(json_object_get(m, "message"));
	if (msg)
		snprintf(ev->message, sizeof(ev->message), "%.300s", msg);
	/* A reason is one word of letters, as Kubernetes' reasons are:
	 * anything else is dropped rather than shown as the guest sent it. */
	const char *reason = json_string_value(json_object_get(m, "reason"));
	size_t rl = reason ? strlen(reason) : 0;
	bool word = rl > 0 && rl < sizeof(ev->reason);
	for (size_t i = 0; word && i < rl; i++)
		word = (reason[i] >= 'A' && reason[i] <= 'Z') || (reason[i] >= 'a' && reason[i] <= 'z');
	if (word)
		memcpy(ev->reason, reason, rl + 1);
	json_decref(m);
	if ((ev->type == GE_STARTED || ev->type == GE_EXITED) && !ev->container[0])
		return -1;
	return 0;
}

/* A message from the guest: checked field by field before use. */
static void shim_guest_json(struct shim *s, struct proto_frame *f)
{
	struct guest_event ev;
	if (guest_event_parse(f->data, f->len, &ev) < 0)
		return;
	if (f->stream) {
		/* For a client's stream (exec's exit, an error): pass it on. */
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (s->clients[i].fd > 0 && s->clients[i].stream == f->stream) {
				json_t *out = ev.type == GE_EXIT
						      ? json_pack("{s:s, s:I}", "type", "exit", "exitCode",
								  (json_int_t)ev.exit_code)
						      : json_pack("{s:s, s:s}", "type", "error", "message",
								  ev.message);
				char *text = json_dumps(out, JSON_COMPACT);
				proto_write(s->clients[i].fd, PROTO_JSON, 0, text, strlen(text));
				free(text);
				json_decref(out);
				if (ev.type == GE_EXIT || ev.type == GE_ERROR) {
					close(s->clients[i].fd);
					s->clients[i].fd = 0;
				}
			}
		return;
	}
	if (ev.type == GE_HELLO)
		s->boot_deadline = 0;
	if (ev.type == GE_HELLO && s->run) {
		json_object_set_new(s->st, "guestBootMs", json_integer(ev.boot_ms));
		json_object_set_new(s->st, "agentReadyMs", json_integer(ev.ready_ms));
		proto_write(s->ctl, PROTO_JSON, 0, s->run, s->run_len);
		/* The host's copy of the secrets goes once sent. */
		explicit_bzero(s->run, s->run_len);
		free(s->run);
		s->run = NULL;
		shim_save(s);
	} else if (ev.type == GE_STARTED || ev.type == GE_EXITED) {
		json_t *c = container_status(s, ev.container);
		if (!c)
			return; /* not a container of this pod: ignored */
		if (ev.type == GE_STARTED) {
			json_object_set_new(c, "state", json_string("running"));
			json_object_set_new(c, "startedBootMs", json_integer(ev.boot_ms));
			json_object_set_new(c, "startedAt", json_integer(now_ms_real()));
			json_object_set_new(c, "restarts", json_integer(ev.restarts));
			if (!json_object_get(s->st, "firstStartMs")) {
				json_object_set_new(s->st, "firstStartMs", json_integer(now_ms_real()));
				json_object_set_new(s->st, "firstStartBootMs", json_integer(ev.boot_ms));
			}
			json_object_set_new(s->st, "phase", json_string("Running"));
			shim_save(s);
			shim_notify(s, "Running");
		} else {
			json_object_set_new(c, "state",
					    json_string(ev.restarting ? "waiting" : "terminated"));
			json_object_set_new(c, "exitCode", json_integer(ev.exit_code));
			shim_save(s);
		}
	} else if (ev.type == GE_DONE) {
		bool ok = true;
		const char *k;
		json_t *c;
		json_object_foreach(json_object_get(s->st, "containers"), k, c) {
			if (json_integer_value(json_object_get(c, "exitCode")) != 0 ||
			    !json_object_get(c, "exitCode"))
				ok = false;
		}
		shim_finish(s, ok ? "Succeeded" : "Failed", ok ? NULL : "a container failed");
	} else if (ev.type == GE_FAILED) {
		char why[400];
		if (ev.reason[0])
			snprintf(why, sizeof(why), "%s: %s", ev.reason, ev.message);
		else
			snprintf(why, sizeof(why), "the guest agent could not set the pod up%s%s "
						   "(console.log)",
				 ev.message[0] ? ": " : "", ev.message);
		shim_finish(s, "Failed", why);
	} else if (ev.type == GE_LOG && ev.message[0]) {
		json_t *logs = json_object_get(s->st, "agentLog");
		if (!logs)
			json_object_set_new(s->st, "agentLog", logs = json_array());
		if (json_array_size(logs) < 50)
			json_array_append_new(logs, json_string(ev.message));
		shim_save(s);
	}
}

static void shim_client_frame(struct shim *s, struct client *c, struct proto_frame *f)
{
	if (f->type == PROTO_JSON && !c->stream && !c->wait) {
		json_t *m = json_loadb((const char *)f->data, f->len, 0, NULL);
		const char *op = json_string_value(json_object_get(m, "op"));
		if (op && strcmp(op, "wait") == 0) {
			c->wait = true;
			if (final_phase(json_string_value(json_object_get(s->st, "phase"))))
				shim_finish(s, json_string_value(json_object_get(s->st, "phase")), NULL);
		} else if (op && strcmp(op, "stop") == 0) {
			s->stopping = true;
			static const char shutdown[] = "{\"op\":\"shutdown\"}";
			proto_write(s->ctl, PROTO_JSON, 0, shutdown, sizeof(shutdown) - 1);
			c->wait = true;
		} else if (op && (strcmp(op, "logs") == 0 || strcmp(op, "exec") == 0)) {
			c->stream = ++s->next_stream;
			proto_write(s->ctl, PROTO_JSON, c->stream, f->data, f->len);
		}
		json_decref(m);
		return;
	}
	if (c->stream && (f->type == PROTO_IN || f->type == PROTO_EOF))
		proto_write(s->ctl, f->type, c->stream, f->data, f->len);
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	unlink(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	mode_t old = umask(077); /* only root opens the pod's sockets */
	int r = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || listen(fd, 8) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static const char *qemu_end_reason(const char *dir, int status, bool stopping, bool timed_out,
				   char *buf, size_t n)
{
	if (stopping)
		return "Stopped";
	if (timed_out) {
		snprintf(buf, n, "BootTimeout: the guest did not answer within %d s (console.log; "
				 "--accel tcg if KVM cannot run this kernel)",
			 POD_BOOT_TIMEOUT_S);
		return buf;
	}
	char path[4200];
	snprintf(path, sizeof(path), "%s/console.log", dir);
	char *log = NULL;
	size_t len = 0;
	struct moat_error e = { 0 };
	bool panic = read_file(path, 4 << 20, &log, &len, &e) == 0 && log &&
		     memmem(log, len, "Kernel panic", 12);
	free(log);
	if (panic)
		return "GuestPanic: the guest kernel panicked (console.log)";
	/* QEMU's own first complaint, when it said one, says the most. */
	char said[160] = "";
	snprintf(path, sizeof(path), "%s/qemu.log", dir);
	FILE *q = fopen(path, "re");
	if (q) {
		if (fgets(said, sizeof(said), q))
			said[strcspn(said, "\n")] = '\0';
		fclose(q);
	}
	if (WIFSIGNALED(status))
		snprintf(buf, n, "VMKilled: qemu was killed by signal %d%s%s", WTERMSIG(status),
			 said[0] ? ": " : "", said);
	else
		snprintf(buf, n, "VMExited: qemu exited with status %d before the pod finished%s%s",
			 WEXITSTATUS(status), said[0] ? ": " : "", said);
	return buf;
}

static void shim_main(struct shim *s, char **qargv)
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	/* A client that goes away mid-stream must cost the shim a write's
	 * EPIPE, not its life (and the pod's VM with it). */
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	char path[4200];
	snprintf(path, sizeof(path), "%s/qemu.log", s->dir);
	int qlog = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	s->jail->out_fd = qlog;
	struct moat_error e = { 0 };
	s->qemu = qlog < 0 ? -1 : vmm_spawn(s->jail, qargv, &e);
	if (qlog >= 0)
		close(qlog);
	for (size_t i = 0; i < s->jail->nfds; i++)
		if (s->jail->fds[i] != s->ctl)
			close(s->jail->fds[i]);
	s->boot_deadline = now_ms_real() + POD_BOOT_TIMEOUT_S * 1000ll;
	json_object_set_new(s->st, "qemuPid", json_integer(s->qemu));
	json_object_set_new(s->st, "shimPid", json_integer(getpid()));
	shim_save(s);
	if (s->qemu < 0) {
		char reason[1100];
		snprintf(reason, sizeof(reason), "VMMJail: %s",
			 e.msg[0] ? e.msg : "qemu.log could not be made");
		vmm_cgroup_remove(s->cg);
		json_object_set_new(s->st, "vm", json_string("stopped"));
		shim_finish(s, "Failed", reason);
		_exit(0);
	}
	snprintf(path, sizeof(path), "%s/api.sock", s->dir);
	s->api = listen_unix(path);
	for (;;) {
		struct pollfd p[3 + MAX_CLIENTS];
		int idx[3 + MAX_CLIENTS];
		nfds_t n = 0;
		p[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		p[n++] = (struct pollfd){ .fd = s->ctl, .events = POLLIN };
		p[n++] = (struct pollfd){ .fd = s->api, .events = POLLIN };
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (s->clients[i].fd > 0) {
				idx[n] = i;
				p[n++] = (struct pollfd){ .fd = s->clients[i].fd, .events = POLLIN };
			}
		int timeout = -1;
		if (s->boot_deadline) {
			long long left = s->boot_deadline - now_ms_real();
			if (left <= 0 && !s->boot_timed_out) {
				/* A guest that never answers (a kernel that hangs, a
				 * nested hypervisor that cannot run it) is given up on. */
				s->boot_timed_out = true;
				kill(s->qemu, SIGKILL);
			}
			timeout = left > 0 ? (int)left : -1;
		}
		if (poll(p, n, timeout) < 0)
			continue;
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGTERM && !s->stopping) {
					s->stopping = true;
					static const char shutdown[] = "{\"op\":\"shutdown\"}";
					proto_write(s->ctl, PROTO_JSON, 0, shutdown, sizeof(shutdown) - 1);
				}
			}
			int status;
			if (waitpid(s->qemu, &status, WNOHANG) == s->qemu) {
				char buf[256];
				const char *reason = qemu_end_reason(s->dir, status, s->stopping,
								     s->boot_timed_out, buf, sizeof(buf));
				json_object_set_new(s->st, "vm", json_string("stopped"));
				vmm_cgroup_remove(s->cg);
				net_pod_leave(s->state_dir, s->st);
				if (!final_phase(json_string_value(json_object_get(s->st, "phase"))))
					shim_finish(s, "Failed", reason);
				else
					shim_save(s);
				shim_finish(s, json_string_value(json_object_get(s->st, "phase")), NULL);
				for (int i = 0; i < MAX_CLIENTS; i++)
					if (s->clients[i].fd > 0)
						close(s->clients[i].fd);
				snprintf(path, sizeof(path), "%s/api.sock", s->dir);
				unlink(path);
				_exit(0);
			}
		}
		if (p[1].revents & (POLLIN | POLLHUP)) {
			struct proto_frame f;
			const char *why;
			if (proto_read(s->ctl, &f, &why) < 0) {
				if (errno == EBADMSG) {
					/* A guest that breaks the protocol is not trusted
					 * further: its VM goes. */
					json_object_set_new(s->st, "reason", json_string(why));
					kill(s->qemu, SIGKILL);
				}
				close(s->ctl);
				s->ctl = -1;
				p[1].fd = -1;
				struct pollfd wait_q = { .fd = sfd, .events = POLLIN };
				poll(&wait_q, 1, 5000);
				kill(s->qemu, SIGKILL);
				continue;
			}
			if (f.type == PROTO_JSON) {
				shim_guest_json(s, &f);
			} else if (f.stream) {
				for (int i = 0; i < MAX_CLIENTS; i++)
					if (s->clients[i].fd > 0 && s->clients[i].stream == f.stream) {
						proto_write(s->clients[i].fd, f.type, 0, f.data, f.len);
						if (f.type == PROTO_EOF) {
							close(s->clients[i].fd);
							s->clients[i].fd = 0;
						}
					}
			}
			proto_frame_release(&f);
		}
		if (p[2].revents & POLLIN) {
			int c = accept4(s->api, NULL, NULL, SOCK_CLOEXEC);
			int slot = -1;
			for (int i = 0; i < MAX_CLIENTS && slot < 0; i++)
				if (s->clients[i].fd <= 0)
					slot = i;
			if (c >= 0 && slot < 0)
				close(c);
			else if (c >= 0)
				s->clients[slot] = (struct client){ .fd = c };
		}
		for (nfds_t k = 3; k < n; k++) {
			if (!(p[k].revents & (POLLIN | POLLHUP)))
				continue;
			struct client *c = &s->clients[idx[k]];
			if (c->fd <= 0)
				continue;
			struct proto_frame f;
			const char *why;
			if (proto_read(c->fd, &f, &why) < 0) {
				if (c->stream) /* the client went: end its stdin */
					proto_write(s->ctl, PROTO_EOF, c->stream, NULL, 0);
				close(c->fd);
				c->fd = 0;
				continue;
			}
			shim_client_frame(s, c, &f);
			proto_frame_release(&f);
		}
	}
}

/* ---- operations ---------------------------------------------------------------- */

static void rm_tree(const char *path)
{
	struct moat_error e = { 0 };
	remove_tree_at(AT_FDCWD, path, &e);
}

/* Gives QEMU fd; returns the number QEMU will see it as. */
static int jail_fd(struct vmm_jail *j, int fd)
{
	j->fds[j->nfds] = fd;
	return 3 + (int)j->nfds++;
}

static void vmm_release_fds(struct vmm_jail *j)
{
	for (size_t i = 0; i < j->nfds; i++)
		close(j->fds[i]);
	j->nfds = 0;
	free((void *)j->seccomp);
	j->seccomp = NULL;
}

/* QEMU's overhead beyond guest RAM (its code, TCG's translation buffer, the
 * kernel image in the page cache) and its threads (vCPUs, I/O workers). */
#define VMM_OVERHEAD_MIB 192
#define VMM_PIDS 256

/* Everything the VMM's jail needs that can fail, before the shim starts, so
 * that a failure is told to the caller: on error nothing is kept. */
static int vmm_prepare(const struct pod_plan *plan, const char *guest, const char *dir,
		       struct vmm_jail *j, struct vmm_cgroup *cg, struct moat_error *err)
{
	static char kernel[4300], initrd[4300], root[4300], qemu[4200];
	j->kernel = vm_kernel_path(guest, kernel, sizeof(kernel));
	snprintf(initrd, sizeof(initrd), "%s/initrd.img", guest);
	j->initrd = initrd;
	snprintf(root, sizeof(root), "%s/jail", dir);
	if (mkdir(root, 0700) < 0)
		return moat_error_sys(err, errno, "%s", root);
	j->root = root;
	_cleanup_free_ char *q = find_tool("qemu-system-x86_64");
	if (!q)
		return moat_error_set(err, ENOENT,
				      "qemu-system-x86_64 is not installed (make deps)");
	snprintf(qemu, sizeof(qemu), "%s", q);
	j->qemu = qemu;
	if (j->kvm) {
		struct stat kst;
		j->kvm_gid = stat("/dev/kvm", &kst) == 0 ? kst.st_gid : 0;
	}
	j->limits = (struct vmm_limits){
		.memory_bytes = ((uint64_t)plan->mem_mib + VMM_OVERHEAD_MIB) << 20,
		.cpu_milli = plan->vcpus * 1000,
		.pids = VMM_PIDS,
	};
	unsigned char *bpf = NULL;
	size_t blen = 0;
	if (vmm_seccomp_compile(&bpf, &blen, err) < 0)
		return -1;
	j->seccomp = bpf;
	j->seccomp_len = blen;
	uid_t id;
	if (vmm_id_claim(dir, &id, err) < 0) {
		vmm_release_fds(j);
		return -1;
	}
	j->uid = id;
	j->gid = (gid_t)id;
	/* Named for the pod and its uid: unique on the host, whatever the
	 * state directory. */
	char leaf[128];
	snprintf(leaf, sizeof(leaf), "%s.%u", plan->name, (unsigned)(id - VMM_ID_BASE));
	if (vmm_cgroup_create(leaf, &j->limits, cg, err) < 0) {
		vmm_id_release(id);
		vmm_release_fds(j);
		return -1;
	}
	j->cg = cg;
	return 0;
}

int pod_run(const char *file, const struct pod_options *o, struct pod_run_result *res,
	    struct moat_error *err)
{
	memset(res, 0, sizeof(*res));
	char *buf = NULL;
	size_t len = 0;
	if (read_file(file, 16 << 20, &buf, &len, err) < 0)
		return -1;
	struct pod_plan plan;
	int r = pod_plan_build(file, buf, len, o, &plan, err);
	explicit_bzero(buf, len); /* the file may hold Secrets */
	free(buf);
	if (r < 0)
		return -1;
	char gbuf[4200];
	const char *guest = vm_guest_dir(o->guest_dir, gbuf, sizeof(gbuf));
	char kpath[4300];
	snprintf(kpath, sizeof(kpath), "%s/vmlinuz", guest);
	if (access(kpath, R_OK) < 0) {
		pod_plan_release(&plan);
		return moat_error_set(err, ENOENT, "no guest kernel at %s (make guest fetches "
						   "Debian's cloud kernel)",
				      kpath);
	}
	char why[128];
	if (vm_pick_accel(o->accel, res->accel, sizeof(res->accel), why, sizeof(why)) < 0) {
		pod_plan_release(&plan);
		return moat_error_set(err, EINVAL, "--accel %s: expected auto, kvm or tcg", o->accel);
	}
	snprintf(res->accel_why, sizeof(res->accel_why), "%s", why);
	snprintf(res->name, sizeof(res->name), "%s", plan.name);
	char *pods = xasprintf("%s/pods", o->state_dir);
	mkdir(o->state_dir, 0700);
	mkdir(pods, 0700);
	free(pods);
	char *dir = pod_dir(o, plan.name);
	if (mkdir(dir, 0700) < 0) {
		int e = errno;
		pod_plan_release(&plan);
		moat_error_sys(err, e == EEXIST ? EEXIST : e, "pod %s%s", res->name,
			       e == EEXIST ? " exists (moat pod rm it first)" : "");
		free(dir);
		return -1;
	}
	/* The ephemeral disk: sparse, the pod's alone.  The guest encrypts it
	 * under a key of its own and makes the file system inside. */
	char disk[4300];
	snprintf(disk, sizeof(disk), "%s/disk.img", dir);
	int fd = open(disk, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)plan.disk_bytes) < 0) {
		if (fd >= 0)
			close(fd);
		if (!err->msg[0])
			moat_error_sys(err, errno, "%s", disk);
		moat_error_wrap(err, "creating the pod's disk");
		goto fail;
	}
	close(fd);
	/* The VMM's jail: its uid, cgroup, filter, and every fd it is given. */
	struct vmm_jail jail = { .hostname = plan.name, .kvm = strcmp(res->accel, "kvm") == 0 };
	static struct vmm_cgroup cg; /* 16 KiB: not on the stack */
	if (vmm_prepare(&plan, guest, dir, &jail, &cg, err) < 0)
		goto fail;
	struct vm_config vc = { .name = plan.name, .accel = res->accel, .vcpus = plan.vcpus,
				.mem_mib = plan.mem_mib, .tap_fd = -1 };
	int ctl[2] = { -1, -1 };
	char con[4300];
	snprintf(con, sizeof(con), "%s/console.log", dir);
	int confd = open(con, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (confd < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) < 0) {
		moat_error_sys(err, errno, "%s", confd < 0 ? con : "socketpair");
		if (confd >= 0)
			close(confd);
		goto fail_vmm;
	}
	vc.fd_console = jail_fd(&jail, confd);
	vc.fd_ctl = jail_fd(&jail, ctl[1]);
	/* The pod's NIC on its port group (net.c): a lease, and a tap that
	 * QEMU gets as an fd like everything else. */
	struct net_lease lease = { 0 };
	bool on_net = !o->net || strcmp(o->net, "none") != 0;
	int tap = -1;
	if (on_net && net_attach(o->state_dir, o->net, plan.name, plan.record, &lease, &tap, err) < 0)
		goto fail_vmm;
	if (on_net) {
		vc.tap_fd = jail_fd(&jail, tap);
		snprintf(vc.mac, sizeof(vc.mac), "%s", lease.mac);
		json_object_set(plan.run, "network", lease.guest);
	}
	json_t *disks = json_array();
	char serials[33][24];
	for (size_t i = 0; i < plan.nimages; i++) {
		snprintf(serials[i], sizeof(serials[i]), "img%zu", i);
		int ro = open(plan.images[i].disk, O_RDONLY | O_CLOEXEC);
		if (ro < 0) {
			moat_error_sys(err, errno, "%s", plan.images[i].disk);
			json_decref(disks);
			goto fail_vmm;
		}
		vc.disks[vc.ndisks++] = (struct vm_disk){ plan.images[i].disk, serials[i], true, -1,
							  jail_fd(&jail, ro) };
		char at[32];
		snprintf(at, sizeof(at), "/images/%zu", i);
		json_array_append_new(disks, verity_disk_json(&plan.images[i], plan.image_refs[i],
							      serials[i], at));
	}
	int rw = open(disk, O_RDWR | O_CLOEXEC), ro = open(disk, O_RDONLY | O_CLOEXEC);
	if (rw < 0 || ro < 0) {
		moat_error_sys(err, errno, "%s", disk);
		json_decref(disks);
		if (rw >= 0)
			close(rw);
		if (ro >= 0)
			close(ro);
		goto fail_vmm;
	}
	vc.disks[vc.ndisks++] = (struct vm_disk){ disk, "ephemeral", false, jail_fd(&jail, rw),
						  jail_fd(&jail, ro) };
	json_array_append_new(disks, json_pack("{s:s, s:s, s:s, s:b, s:s}", "serial", "ephemeral",
					      "fs", "ext4", "mount", "/pod", "ephemeral", 1, "crypt",
					      "aes-xts-plain64"));
	json_object_set_new(plan.run, "disks", disks);
	/* The record: the spec without values, and the status. */
	json_t *st = json_pack("{s:s, s:O, s:s, s:s, s:s, s:I, s:s}", "name", plan.name, "spec",
			       plan.record, "phase", "Pending", "accel", res->accel, "accelReason",
			       why, "createdAt", (json_int_t)(now_ms_real() / 1000), "file", file);
	json_object_set_new(st, "vm", json_string("running"));
	json_t *cstat = json_object();
	static const char *const lists[] = { "initContainers", "containers" };
	for (int l = 0; l < 2; l++) {
		size_t i;
		json_t *c;
		json_array_foreach(json_object_get(plan.run, lists[l]), i, c)
			json_object_set_new(cstat, json_string_value(json_object_get(c, "name")),
					    json_pack("{s:s, s:b}", "state", "waiting", "init", l == 0));
	}
	json_object_set_new(st, "containers", cstat);
	json_t *imgs = json_array();
	for (size_t i = 0; i < plan.nimages; i++)
		json_array_append_new(imgs, json_pack("{s:s, s:s}", "ref", plan.image_refs[i], "id",
						      plan.images[i].id));
	json_object_set_new(st, "images", imgs);
	json_t *cgs = json_array();
	for (size_t i = 0; i < cg.n; i++)
		json_array_append_new(cgs, json_string(cg.path[i]));
	json_object_set_new(st, "vmm",
			    json_pack("{s:I, s:o}", "uid", (json_int_t)jail.uid, "cgroups", cgs));
	if (on_net)
		json_object_set_new(st, "network", json_pack("{s:s, s:s, s:s, s:s}", "net", lease.net,
							     "ip", lease.ip, "mac", lease.mac, "tap",
							     lease.tap));
	net_lease_release(&lease);
	if (pod_state_write(dir, st) < 0) {
		json_decref(st);
		moat_error_sys(err, errno, "writing %s/pod.json", dir);
		goto fail_net;
	}
	char **qargv = vm_argv(&vc);
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		vm_argv_free(qargv);
		json_decref(st);
		moat_error_sys(err, errno, "pipe");
		goto fail_net;
	}
	res->started_ms = now_ms_real();
	if (o->progress) {
		char msg[200];
		snprintf(msg, sizeof(msg), "%s: booting (%s, %u vCPU, %u MiB)", plan.name, res->accel,
			 plan.vcpus, plan.mem_mib);
		o->progress(msg);
	}
	pid_t pid = fork();
	if (pid == 0) {
		/* The shim: its own session, none of the caller's terminal. */
		close(pfd[0]);
		setsid();
		if (fork() != 0)
			_exit(0);
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		prctl(PR_SET_NAME, "moat-shim");
		struct shim s = { .dir = dir, .state_dir = o->state_dir, .st = st,
				  .notify = pfd[1], .jail = &jail, .cg = &cg, .ctl = ctl[0] };
		s.run = json_dumps(plan.run, JSON_COMPACT);
		s.run_len = s.run ? strlen(s.run) : 0;
		pod_plan_release(&plan);
		shim_main(&s, qargv);
		_exit(0);
	}
	close(pfd[1]);
	if (vc.tap_fd >= 0)
		close(vc.tap_fd);
	vm_argv_free(qargv);
	json_decref(st);
	pod_plan_release(&plan);
	vmm_release_fds(&jail);
	close(ctl[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	/* Wait for the first container to run, or the pod to fail first. */
	char what[32] = "";
	ssize_t n = read(pfd[0], what, sizeof(what) - 1);
	close(pfd[0]);
	what[n > 0 ? n : 0] = '\0';
	res->running_ms = now_ms_real();
	snprintf(res->phase, sizeof(res->phase), "%.15s", what[0] ? what : "Failed");
	free(dir);
	return 0;
fail_net:
	if (on_net) {
		struct moat_error e2 = { 0 };
		net_release(o->state_dir, lease.net, plan.name, &e2);
	}
fail_vmm:
	vmm_release_fds(&jail);
	if (ctl[0] >= 0)
		close(ctl[0]);
	vmm_cgroup_remove(&cg);
	vmm_id_release(jail.uid);
fail:
	pod_plan_release(&plan);
	rm_tree(dir);
	free(dir);
	return -1;
}

/* The status as a reader sees it: a pod whose shim is gone without saying
 * so has failed. */
int pod_inspect(const struct pod_options *o, const char *name, json_t **out,
		struct moat_error *err)
{
	if (!name || strchr(name, '/') || name[0] == '.')
		return moat_error_set(err, EINVAL, "'%s' is not a pod name", name ? name : "");
	char *dir = pod_dir(o, name);
	json_t *st = pod_state_read(dir, err);
	free(dir);
	if (!st) {
		if (err->errnum == ENOENT)
			moat_error_set(err, ENOENT, "no pod %s", name);
		return -1;
	}
	pid_t shim = (pid_t)json_integer_value(json_object_get(st, "shimPid"));
	const char *phase = json_string_value(json_object_get(st, "phase"));
	if (!final_phase(phase) && shim > 0 && kill(shim, 0) < 0 && errno == ESRCH) {
		json_object_set_new(st, "phase", json_string("Failed"));
		json_object_set_new(st, "reason", json_string("ShimExited: moat's process for this "
							      "pod is gone, and its VM with it"));
		json_object_set_new(st, "vm", json_string("stopped"));
	}
	*out = st;
	return 0;
}

static int strcmp_ptr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int pod_list(const struct pod_options *o, json_t **out, struct moat_error *err)
{
	*out = json_array();
	char *pods = xasprintf("%s/pods", o->state_dir);
	DIR *d = opendir(pods);
	free(pods);
	if (!d)
		return errno == ENOENT ? 0 : moat_error_sys(err, errno, "%s/pods", o->state_dir);
	struct dirent *e;
	char *names[1024];
	size_t n = 0;
	while ((e = readdir(d)) && n < ARRAY_SIZE(names))
		if (e->d_name[0] != '.')
			names[n++] = xstrdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof(*names), strcmp_ptr);
	for (size_t i = 0; i < n; i++) {
		json_t *st;
		struct moat_error e2 = { 0 };
		if (pod_inspect(o, names[i], &st, &e2) == 0)
			json_array_append_new(*out, st);
		free(names[i]);
	}
	return 0;
}

/* Connects to a pod's shim and sends one request. */
static int api_open(const struct pod_options *o, const char *name, json_t *req,
		    struct moat_error *err)
{
	json_t *st;
	if (pod_inspect(o, name, &st, err) < 0)
		return -1;
	bool up = vm_up(st);
	json_decref(st);
	char path[4300];
	snprintf(path, sizeof(path), "%s/pods/%s/api.sock", o->state_dir, name);
	int fd = up ? connect_unix(path) : -1;
	if (fd < 0)
		return moat_error_set(err, ESRCH, "pod %s: its VM is not running, so its agent "
						  "cannot be asked",
				      name);
	char *text = json_dumps(req, JSON_COMPACT);
	int r = proto_write(fd, PROTO_JSON, 0, text, strlen(text));
	free(text);
	if (r < 0) {
		close(fd);
		return moat_error_sys(err, errno, "pod %s: talking to its shim", name);
	}
	return fd;
}

int pod_logs(const struct pod_options *o, const char *name, const char *container, bool follow,
	     int outfd, struct moat_error *err)
{
	json_t *st;
	if (pod_inspect(o, name, &st, err) < 0)
		return -1;
	json_t *cs = json_object_get(st, "containers");
	if (!container) {
		/* The only container, or the first app container. */
		json_t *spec = json_object_get(json_object_get(st, "spec"), "containers");
		container = json_string_value(json_object_get(json_array_get(spec, 0), "name"));
	}
	bool known = container && json_object_get(cs, container);
	char cname[64];
	snprintf(cname, sizeof(cname), "%s", container ? container : "");
	json_decref(st);
	if (!known)
		return moat_error_set(err, ENOENT, "pod %s has no container %s", name, cname);
	json_t *req = json_pack("{s:s, s:s, s:b}", "op", "logs", "container", cname, "follow", follow);
	int fd = api_open(o, name, req, err);
	json_decref(req);
	if (fd < 0)
		return -1;
	int r = 0;
	for (;;) {
		struct proto_frame f;
		const char *why;
		if (proto_read(fd, &f, &why) < 0)
			break;
		if (f.type == PROTO_OUT)
			(void)!write(outfd, f.data, f.len);
		else if (f.type == PROTO_JSON)
			r = moat_error_set(err, EIO, "pod %s: %s", name, (char *)f.data);
		bool eof = f.type == PROTO_EOF;
		proto_frame_release(&f);
		if (eof)
			break;
	}
	close(fd);
	return r;
}

int pod_exec(const struct pod_options *o, const char *name, const char *container,
	     char *const argv[], int *exit_code, struct moat_error *err)
{
	json_t *st;
	if (pod_inspect(o, name, &st, err) < 0)
		return -1;
	if (!container) {
		json_t *spec = json_object_get(json_object_get(st, "spec"), "containers");
		container = json_string_value(json_object_get(json_array_get(spec, 0), "name"));
	}
	char cname[64];
	snprintf(cname, sizeof(cname), "%s", container ? container : "");
	json_decref(st);
	json_t *av = json_array();
	for (size_t i = 0; argv[i]; i++)
		json_array_append_new(av, json_string(argv[i]));
	json_t *req = json_pack("{s:s, s:s, s:o}", "op", "exec", "container", cname, "argv", av);
	int fd = api_open(o, name, req, err);
	json_decref(req);
	if (fd < 0)
		return -1;
	*exit_code = -1;
	/* The shim closes the session once the command exits: stdin still
	 * being forwarded then meets EPIPE, which is not an error. */
	signal(SIGPIPE, SIG_IGN);
	bool in_open = true;
	int r = 0;
	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
				       { .fd = in_open ? 0 : -1, .events = POLLIN } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents & (POLLIN | POLLHUP)) {
			char buf[PROTO_CHUNK];
			ssize_t n = read(0, buf, sizeof(buf));
			if (n > 0) {
				proto_write(fd, PROTO_IN, 0, buf, (size_t)n);
			} else {
				proto_write(fd, PROTO_EOF, 0, NULL, 0);
				in_open = false;
			}
		}
		if (!(p[0].revents & (POLLIN | POLLHUP)))
			continue;
		struct proto_frame f;
		const char *why;
		if (proto_read(fd, &f, &why) < 0) {
			if (*exit_code < 0)
				r = moat_error_set(err, EIO, "pod %s: the session ended without an exit "
							     "status",
						   name);
			break;
		}
		if (f.type == PROTO_OUT || f.type == PROTO_ERR) {
			(void)!write(f.type == PROTO_OUT ? 1 : 2, f.data, f.len);
		} else if (f.type == PROTO_JSON) {
			json_t *m = json_loadb((const char *)f.data, f.len, 0, NULL);
			const char *type = json_string_value(json_object_get(m, "type"));
			if (type && strcmp(type, "exit") == 0) {
				long long code = json_integer_value(json_object_get(m, "exitCode"));
				*exit_code = code >= 0 && code < 256 ? (int)code : 255;
			} else if (type && strcmp(type, "error") == 0) {
				r = moat_error_set(err, ENOENT, "pod %s: %s", name,
						   json_string_value(json_object_get(m, "message")));
			}
			json_decref(m);
		}
		proto_frame_release(&f);
		if (*exit_code >= 0 || r < 0)
			break;
	}
	close(fd);
	return r;
}

/* Waits for the pod's end through its shim; the final status in *out. */
int pod_wait(const struct pod_options *o, const char *name, json_t **out, struct moat_error *err)
{
	json_t *req = json_pack("{s:s}", "op", "wait");
	int fd = api_open(o, name, req, err);
	json_decref(req);
	if (fd >= 0) {
		struct proto_frame f;
		const char *why;
		if (proto_read(fd, &f, &why) == 0)
			proto_frame_release(&f);
		close(fd);
	}
	/* Read back what the shim wrote (its socket may be gone already). */
	for (int i = 0; i < 100; i++) {
		struct moat_error e2 = { 0 };
		if (pod_inspect(o, name, out, &e2) < 0)
			return moat_error_set(err, e2.errnum, "%s", e2.msg);
		if (final_phase(json_string_value(json_object_get(*out, "phase"))))
			return 0;
		json_decref(*out);
		usleep(50000);
	}
	return pod_inspect(o, name, out, err);
}

int pod_stop(const struct pod_options *o, const char *name, struct moat_error *err)
{
	json_t *st;
	if (pod_inspect(o, name, &st, err) < 0)
		return -1;
	bool up = vm_up(st);
	pid_t shim = (pid_t)json_integer_value(json_object_get(st, "shimPid"));
	json_decref(st);
	if (!up)
		return 1;
	json_t *req = json_pack("{s:s}", "op", "stop");
	struct moat_error e2 = { 0 };
	int fd = api_open(o, name, req, &e2);
	json_decref(req);
	if (fd >= 0) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		poll(&p, 1, 8000);
		close(fd);
	}
	/* The agent had its grace period; whatever is left is killed. */
	for (int i = 0; i < 40 && shim > 0 && kill(shim, 0) == 0; i++)
		usleep(50000);
	if (shim > 0 && kill(shim, 0) == 0)
		kill(shim, SIGKILL); /* QEMU dies with it */
	return 0;
}

int pod_rm(const struct pod_options *o, const char *name, bool force, struct moat_error *err)
{
	json_t *st;
	if (pod_inspect(o, name, &st, err) < 0)
		return -1;
	bool up = vm_up(st);
	pid_t shim = (pid_t)json_integer_value(json_object_get(st, "shimPid"));
	pid_t qemu = (pid_t)json_integer_value(json_object_get(st, "qemuPid"));
	bool done = final_phase(json_string_value(json_object_get(st, "phase")));
	json_t *vmm = json_object_get(st, "vmm");
	uid_t vmm_uid = (uid_t)json_integer_value(json_object_get(vmm, "uid"));
	static struct vmm_cgroup cg;
	const char *paths[4];
	size_t npaths = 0, k;
	json_t *p;
	json_array_foreach(json_object_get(vmm, "cgroups"), k, p) if (npaths < 4) paths[npaths++] =
	    json_string_value(p);
	int have_cg = vmm_cgroup_from(paths, npaths, &cg);
	json_decref(st);
	if (up && !done && !force)
		return moat_error_set(err, EBUSY, "pod %s is running: stop it first, or rm -f",
				      name);
	if (up && done)
		pod_stop(o, name, err); /* its containers are done: the VM goes quietly */
	if (up) {
		if (shim > 0)
			kill(shim, SIGKILL);
		/* The shim's death takes QEMU; wait for it to be gone. */
		for (int i = 0; i < 100 && qemu > 0 && kill(qemu, 0) == 0; i++)
			usleep(20000);
	}
	/* The shim removes the VMM's groups when QEMU ends; a shim that was
	 * killed leaves them to rm. */
	if (have_cg == 0)
		vmm_cgroup_remove(&cg);
	if (pod_inspect(o, name, &st, err) == 0) {
		net_pod_leave(o->state_dir, st);
		json_decref(st);
	}
	char *dir = pod_dir(o, name);
	rm_tree(dir);
	free(dir);
	vmm_id_release(vmm_uid);
	return 0;
}
