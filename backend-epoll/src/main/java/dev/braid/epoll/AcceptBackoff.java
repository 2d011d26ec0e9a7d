package dev.braid.epoll;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;

import java.net.SocketAddress;
import java.util.concurrent.TimeUnit;

/**
 * On a listening channel, ahead of Netty's acceptor: what happens when accept fails (issue 11 §1.5; EMFILE or
 * ENFILE, no descriptor left). Netty's own acceptor pauses reading for one second and passes the exception on to
 * the pipeline's tail, which logs a WARNING with a stack trace, so one line a second for as long as descriptors
 * are short. This handler takes the failure instead: it turns auto-read off for {@link #MIN_BACKOFF_MILLIS},
 * doubling on each failure in a row up to {@link #MAX_BACKOFF_MILLIS} (as nio's and loom's listeners do), logs
 * one WARNING when an episode starts (the error's message, no stack trace) and one INFO with the count of failed
 * attempts when the next connection is accepted. The loops go on serving their connections meanwhile.
 *
 * <p><b>Threads.</b> The listening channel's event loop only (Netty calls a handler on its channel's loop, and
 * the re-enable task is scheduled there).
 */
final class AcceptBackoff extends ChannelInboundHandlerAdapter {
    private static final System.Logger LOG = System.getLogger("dev.braid.epoll");
    /** First pause after a failed accept. */
    static final long MIN_BACKOFF_MILLIS = 10;
    /** Longest pause between attempts while accept keeps failing. */
    static final long MAX_BACKOFF_MILLIS = 1_000;

    // ---- event loop: the current episode of failures
    private long backoffMillis;
    private long failuresInEpisode;
    private long episodeStartNanos;

    @Override
    public void channelRead(final ChannelHandlerContext ctx, final Object msg) {
        if (failuresInEpisode > 0) {
            LOG.log(System.Logger.Level.INFO, "accepting on " + local(ctx) + " again after " + failuresInEpisode
                    + " failed attempts over " + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - episodeStartNanos)
                    + " ms");
            failuresInEpisode = 0;
            backoffMillis = 0;
        }
        ctx.fireChannelRead(msg); // the accepted channel, on to Netty's acceptor
    }

    @Override
    public void exceptionCaught(final ChannelHandlerContext ctx, final Throwable cause) {
        backoffMillis = backoffMillis == 0 ? MIN_BACKOFF_MILLIS : Math.min(MAX_BACKOFF_MILLIS, backoffMillis * 2);
        if (ctx.channel().config().isAutoRead()) {
            ctx.channel().config().setAutoRead(false);
            ctx.channel().eventLoop().schedule(() -> {
                if (ctx.channel().isOpen()) {
                    ctx.channel().config().setAutoRead(true); // re-arms EPOLLIN: a waiting connection is reported at once
                }
            }, backoffMillis, TimeUnit.MILLISECONDS);
        }
        if (failuresInEpisode++ == 0) { // after the pause: the log may fail too
            episodeStartNanos = System.nanoTime();
            try {
                LOG.log(System.Logger.Level.WARNING, "accept failed on " + local(ctx) + ": " + cause
                        + "; pausing accepts (retrying after " + MIN_BACKOFF_MILLIS + " ms, then up to every "
                        + MAX_BACKOFF_MILLIS + " ms; existing connections are served meanwhile)");
            } catch (RuntimeException | Error logFailed) {
                // a logging backend that needs a descriptor too: the line is lost, the backoff holds
            }
        }
        // not passed on: Netty's acceptor would pause again and the tail would log the stack trace
    }

    private static SocketAddress local(final ChannelHandlerContext ctx) {
        return ctx.channel().localAddress();
    }
}
