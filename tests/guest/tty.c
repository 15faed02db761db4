/* Terminal settings through the console: isatty, tcgetattr/tcsetattr (echo off and back),
 * TIOCGWINSZ. tests/ts/vmm.test.ts runs it natively and in uno under script(1). */
#include <stdio.h>
#include <termios.h>
#include <unistd.h>
#include <sys/ioctl.h>
int main(void) {
  struct termios t; struct winsize w;
  printf("isatty(0)=%d isatty(1)=%d\n", isatty(0), isatty(1));
  if (tcgetattr(0, &t) == 0) {
    printf("echo=%d icanon=%d\n", !!(t.c_lflag & ECHO), !!(t.c_lflag & ICANON));
    t.c_lflag &= ~ECHO;
    printf("set: %d\n", tcsetattr(0, TCSANOW, &t));
    struct termios u; tcgetattr(0, &u);
    printf("echo now=%d\n", !!(u.c_lflag & ECHO));
    u.c_lflag |= ECHO; tcsetattr(0, TCSANOW, &u);
  }
  if (ioctl(1, TIOCGWINSZ, &w) == 0) printf("winsize %dx%d\n", w.ws_row, w.ws_col);
  return 0;
}
