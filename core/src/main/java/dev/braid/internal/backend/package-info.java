/**
 * What every backend does the same way, so that a backend holds only its system calls: the writer context
 * and its gather / write / advance loop ({@link dev.braid.internal.backend.OutboundWriter}, with the
 * write-through handshake), reading on and off as the engine asks for it
 * ({@link dev.braid.internal.backend.ReadSuspension}), and the first close reason
 * ({@link dev.braid.internal.backend.CloseReason}).
 *
 * <p>Internal: for braid's own backends (nio, epoll, loom). Each class states which thread may call what.
 */
package dev.braid.internal.backend;
