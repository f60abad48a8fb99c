/* Log files an operator rotates. logrotate renames a log and then sends
 * SIGHUP (its postrotate); each registered descriptor is then opened again
 * by its name and the new file put in place of the old under the same
 * descriptor number, so writers in any thread go on with no lock, and a
 * line (one write(2)) lands whole in the old file or the new one: nothing
 * is copied or truncated (copytruncate loses the lines written between its
 * copy and its truncate). */
#ifndef BD_LOGFILES_H
#define BD_LOGFILES_H

/* Reopen PATH onto FD on SIGHUP (O_WRONLY|O_APPEND|O_CREAT, mode 0600);
 * cloexec: whether FD is close-on-exec (standard output and error are
 * not). PATH is copied. Returns 0, or -1 when the table (8) is full or
 * PATH too long. */
int bd_logfile_register(int fd, const char *path, int cloexec);
/* FD no longer names a registered log (it is about to be closed). */
void bd_logfile_forget(int fd);
/* Install the SIGHUP handler that reopens every registered log. A log that
 * cannot be opened again (its directory gone) keeps its old file, and one
 * line saying so goes to standard error. */
void bd_logfiles_reopen_on_sighup(void);

#endif
