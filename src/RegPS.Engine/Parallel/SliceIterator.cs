using System.Runtime.CompilerServices;

namespace RegPS.Engine.Parallel;

/// <summary>
/// The one parallel iterator of the engine. Work items are independent by index, so the result never
/// depends on the thread count; reductions keep one partial per index and are combined in index order by the caller.
/// </summary>
internal static class SliceIterator
{
    /// <summary>Runs <paramref name="body"/> for every index in [0, count) on up to maxDegree threads.</summary>
    public static void For(int count, int maxDegree, Action<int> body) => Run(count, new DelegateOperation(body), maxDegree);

    /// <summary>
    /// Runs <c>op.Invoke(i)</c> for every index in [0, count) on up to maxDegree threads. The work is a struct, so the
    /// JIT compiles this loop once per operation type with the call inlined; a parallel call allocates one small
    /// object for the whole call, nothing per index.
    /// </summary>
    public static void Run<T>(int count, in T op, int maxDegree) where T : struct, IRowOperation
    {
        int degree = Math.Min(Parallelism.Resolve(maxDegree), count);
        if (degree <= 1)
        {
            var local = op;
            for (int i = 0; i < count; i++) local.Invoke(i);
            return;
        }
        var work = new RangeWork<T>(op);
        if (SpinTeam.Shared is { } team && team.TryRun(count, degree, work)) return;
        // the team is busy with another caller (for example parallel subjects): the thread pool serves this one. Its
        // AggregateException is unwrapped, so a caller sees the body's own exception (an OperationCanceledException,
        // an ArgumentException) whichever path ran, as from the team.
        try
        {
            System.Threading.Tasks.Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = degree }, work.Invoke);
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
        }
    }

    private readonly struct DelegateOperation(Action<int> body) : IRowOperation
    {
        public void Invoke(int index) => body(index);
    }
}

/// <summary>One index's work (a row of a field, a slice of a volume); implemented by structs run by <see cref="SliceIterator.Run{T}"/>.</summary>
internal interface IRowOperation
{
    void Invoke(int index);
}

/// <summary>A contiguous range of indices of one operation: what a thread of <see cref="SpinTeam"/> takes at a time.</summary>
internal abstract class RangeWork
{
    public abstract void Range(int start, int end);
}

internal sealed class RangeWork<T>(T op) : RangeWork where T : struct, IRowOperation
{
    private readonly T _op = op;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void Range(int start, int end)
    {
        var local = _op;
        for (int i = start; i < end; i++) local.Invoke(i);
    }

    public void Invoke(int index) { var local = _op; local.Invoke(index); }
}

public static class Parallelism
{
    /// <summary>0 or negative means all processors.</summary>
    public static int Resolve(int maxDegree) => maxDegree <= 0 ? Environment.ProcessorCount : maxDegree;
}

/// <summary>
/// A fixed team of ProcessorCount - 1 background threads that take part in <see cref="SliceIterator.For"/> calls
/// next to the calling thread. A registration makes thousands of short parallel calls (a 2D slice's pass over a
/// field takes well under a millisecond), and waking a sleeping thread-pool worker for each one costs as much as
/// the work on a virtual machine, so the team's threads spin for a short while after each call before they block:
/// back-to-back calls find them awake. One caller uses the team at a time; a concurrent caller gets the thread pool.
/// Indices are handed out in contiguous chunks, each index computed exactly as in the serial loop, so results do not
/// depend on which thread ran which chunk.
/// </summary>
internal sealed class SpinTeam
{
    /// <summary>How long an idle team thread spins before it blocks.</summary>
    private static readonly long SpinTicks = System.Diagnostics.Stopwatch.Frequency / 1000; // 1 ms

    public static readonly SpinTeam? Shared = Environment.ProcessorCount > 1 ? new SpinTeam(Environment.ProcessorCount - 1) : null;

    private readonly Worker[] _workers;
    private int _busy;
    private long _generation;
    /// <summary>
    /// The job being run, null between calls: a finished job (and the arrays its operation holds) must not stay
    /// reachable from this static team, so the threads recognise a new job by its generation, not by its reference.
    /// </summary>
    private Job? _job;

    /// <summary>One call's work; its own counters, so a thread that arrives late finds no chunk left and leaves.</summary>
    private sealed class Job(RangeWork body, int count, int chunks, int helpers, long generation)
    {
        public readonly RangeWork Body = body;
        public readonly int Count = count, Chunks = chunks, Helpers = helpers;
        public readonly long Generation = generation;
        public int NextChunk, DoneChunks;
        public Exception? Error;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Work()
        {
            int c;
            while ((c = Interlocked.Increment(ref NextChunk) - 1) < Chunks)
            {
                int end = (int)((long)Count * (c + 1) / Chunks);
                try
                {
                    if (Volatile.Read(ref Error) is null)
                        Body.Range((int)((long)Count * c / Chunks), end);
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref Error, e, null);
                }
                Interlocked.Increment(ref DoneChunks);
            }
        }
    }

    private sealed class Worker
    {
        public readonly ManualResetEventSlim Wake = new(false, 0);
        public int Sleeping;
    }

    private SpinTeam(int threads)
    {
        _workers = new Worker[threads];
        for (int w = 0; w < threads; w++)
        {
            _workers[w] = new Worker();
            int id = w;
            var t = new Thread(() => Loop(id)) { IsBackground = true, Name = $"RegPS worker {w + 1}" };
            t.Start();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool TryRun(int count, int degree, RangeWork body)
    {
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0) return false;
        try
        {
            int helpers = Math.Min(degree - 1, _workers.Length);
            var job = new Job(body, count, Math.Min(count, (helpers + 1) * 8), helpers, ++_generation);
            // publish (a full fence), then wake the helpers that went to sleep; a helper announces its sleep with a
            // full fence before it looks at the job once more, so one of the two sides always sees the other
            Interlocked.Exchange(ref _job, job);
            for (int w = 0; w < helpers; w++)
                if (Volatile.Read(ref _workers[w].Sleeping) == 1) _workers[w].Wake.Set();
            job.Work();
            var spin = new SpinWait();
            while (Volatile.Read(ref job.DoneChunks) < job.Chunks) spin.SpinOnce(-1);
            if (job.Error is { } e) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e);
            return true;
        }
        finally
        {
            // a helper still on its way finds no job (or this one, with no chunk left) and goes back to waiting
            Volatile.Write(ref _job, null);
            Volatile.Write(ref _busy, 0);
        }
    }

    // its loop runs hot from the first call: compiled optimised once (not tier 0, then on-stack replacement, then tier 1)
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Loop(int id)
    {
        var me = _workers[id];
        long seen = 0;
        while (true)
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            Job? job;
            while ((job = Volatile.Read(ref _job)) is null || job.Generation == seen)
            {
                job = null;
                if (System.Diagnostics.Stopwatch.GetTimestamp() - start < SpinTicks) { Thread.SpinWait(20); continue; }
                Interlocked.Exchange(ref me.Sleeping, 1);
                if (Volatile.Read(ref _job) is not { } next || next.Generation == seen) me.Wake.Wait();
                me.Wake.Reset();
                Interlocked.Exchange(ref me.Sleeping, 0);
                start = System.Diagnostics.Stopwatch.GetTimestamp();
            }
            seen = job.Generation;
            if (id < job.Helpers) job.Work();
        }
    }
}
