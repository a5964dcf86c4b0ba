/* Sandbox ("pause") process for the local cluster: holds the pod's namespaces, reaps orphaned
 * children (it is PID 1 when the pod shares its PID namespace) and exits cleanly on INT/TERM. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_terminate(int sig) { (void)sig; _exit(0); }

static void on_child(int sig) {
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

int main(void) {
    struct sigaction terminate, child;
    memset(&terminate, 0, sizeof terminate);
    memset(&child, 0, sizeof child);
    terminate.sa_handler = on_terminate;
    child.sa_handler = on_child;
    child.sa_flags = SA_NOCLDSTOP;
    if (sigaction(SIGINT, &terminate, NULL) < 0 || sigaction(SIGTERM, &terminate, NULL) < 0 ||
        sigaction(SIGCHLD, &child, NULL) < 0) {
        return 1;
    }
    for (;;) {
        pause();
    }
}
