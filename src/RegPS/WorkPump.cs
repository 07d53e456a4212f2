using System.Collections.Concurrent;
using System.Management.Automation;

namespace RegPS;

/// <summary>
/// Runs engine work on worker threads and brings what it reports back to the pipeline thread, the only thread allowed
/// to write progress, verbose lines, warnings, errors and objects. Workers hand the pipeline thread callbacks (through
/// <see cref="Reporter{T}"/> or <see cref="Post"/>); <see cref="Drain"/> runs them there, in the order they came.
/// When a worker ends, its completion callback runs after everything it posted. Ctrl+C (the cmdlet's stop token)
/// cancels the workers' token; Drain then waits for the workers to return and throws PipelineStoppedException.
/// One pump serves RegCmdlet.RunWithProgress (one worker) and Invoke-BidsRegistration (a worker per running subject).
/// </summary>
internal sealed class WorkPump : IDisposable
{
    private readonly BlockingCollection<Action> _queue = new();
    private readonly CancellationTokenSource _cancel = new();
    private readonly CancellationToken _stop;
    private readonly CancellationTokenRegistration _stopLink;
    private readonly List<Task> _tasks = new();
    private int _running;

    /// <param name="stop">The cmdlet's stop token (Ctrl+C, the pipeline stopping).</param>
    public WorkPump(CancellationToken stop)
    {
        _stop = stop;
        _stopLink = stop.Register(Cancel);
    }

    /// <summary>The workers' token: cancelled by Ctrl+C or <see cref="Cancel"/>.</summary>
    public CancellationToken Token => _cancel.Token;

    /// <summary>Workers started whose completion the pipeline thread has not handled yet.</summary>
    public int Running => _running;

    /// <summary>
    /// Runs <paramref name="work"/> on a worker thread (call on the pipeline thread). When it ends,
    /// <paramref name="onDone"/> runs on the pipeline thread in <see cref="Drain"/>, after all the worker posted, with
    /// the exception the work threw or null. No exception escapes the worker thread.
    /// </summary>
    public void Start(Action<CancellationToken> work, Action<Exception?> onDone)
    {
        _running++;
        var token = _cancel.Token;
        var task = Task.Run(() =>
        {
            Exception? error = null;
            try { work(token); }
            catch (Exception e) { error = e; }
            Post(() =>
            {
                _running--;
                onDone(error);
            });
        });
        lock (_tasks) _tasks.Add(task);
    }

    /// <summary>Queues <paramref name="action"/> to run on the pipeline thread; dropped once the pump is disposed.</summary>
    public void Post(Action action)
    {
        try { _queue.Add(action); }
        catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException)
        {
            // The command has finished; late reports are dropped.
        }
    }

    /// <summary>An IProgress whose reports run <paramref name="handle"/> on the pipeline thread.</summary>
    public IProgress<T> Reporter<T>(Action<T> handle) => new PostingProgress<T>(this, handle);

    /// <summary>
    /// Runs the queued callbacks on the pipeline thread: when <paramref name="block"/> and a worker is running, waits
    /// for one first; then all that are queued. After Ctrl+C, or when a callback throws, it stops the workers (they
    /// clean up what they wrote) and throws: PipelineStoppedException, or the callback's exception.
    /// </summary>
    public void Drain(bool block)
    {
        try
        {
            Action? next = null;
            if (block && _running > 0) next = _queue.Take();
            else _queue.TryTake(out next);
            while (next is not null && !_stop.IsCancellationRequested)
            {
                next();
                if (!_queue.TryTake(out next)) next = null;
            }
        }
        catch
        {
            StopWorkers();
            throw;
        }
        if (_stop.IsCancellationRequested)
        {
            StopWorkers();
            throw new PipelineStoppedException();
        }
    }

    /// <summary>Cancels the workers' token (thread-safe; e.g. on SIGTERM).</summary>
    public void Cancel()
    {
        try { _cancel.Cancel(); }
        catch (ObjectDisposedException) { }
    }

    /// <summary>Waits up to <paramref name="timeout"/> for the workers to return (thread-safe); true when all have.</summary>
    public bool Wait(TimeSpan timeout)
    {
        Task[] tasks;
        lock (_tasks) tasks = _tasks.ToArray();
        try { return Task.WaitAll(tasks, timeout); }
        catch (AggregateException) { return true; }
    }

    /// <summary>Cancels the workers still running and waits for them; their completions are not handled.</summary>
    public void StopWorkers()
    {
        Task[] tasks;
        lock (_tasks) tasks = _tasks.ToArray();
        if (tasks.Length == 0) return;
        if (tasks.Any(t => !t.IsCompleted)) Cancel();
        try { Task.WaitAll(tasks); }
        catch (AggregateException) { }
        _running = 0;
    }

    public void Dispose()
    {
        _stopLink.Dispose();
        StopWorkers();
        _queue.CompleteAdding();
        _cancel.Dispose();
        _queue.Dispose();
    }

    private sealed class PostingProgress<T>(WorkPump pump, Action<T> handle) : IProgress<T>
    {
        public void Report(T value) => pump.Post(() => handle(value));
    }
}
