using RegPS.Engine.Parallel;
using Xunit;

namespace RegPS.Engine.Tests.Parallel;

public class SliceIteratorTests
{
    [Theory]
    [InlineData(1, 2)]
    [InlineData(3, 2)]
    [InlineData(17, 2)]
    [InlineData(1000, 2)]
    [InlineData(1000, 1)]
    [InlineData(999, 0)]
    [InlineData(50, 64)]
    public void EveryIndexRunsExactlyOnce(int count, int degree)
    {
        var hits = new int[count];
        SliceIterator.For(count, degree, i => Interlocked.Increment(ref hits[i]));
        Assert.All(hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void ZeroCountRunsNothing()
    {
        int calls = 0;
        SliceIterator.For(0, 2, _ => calls++);
        Assert.Equal(0, calls);
    }

    [Fact]
    public void AnExceptionReachesTheCallerAndLaterCallsStillWork()
    {
        var e = Assert.Throws<InvalidOperationException>(() =>
            SliceIterator.For(500, 2, i => { if (i == 321) throw new InvalidOperationException("row 321"); }));
        Assert.Equal("row 321", e.Message);
        long sum = 0;
        SliceIterator.For(500, 2, i => Interlocked.Add(ref sum, i));
        Assert.Equal(499L * 500 / 2, sum);
    }

    [Fact]
    public async Task WhileTheTeamIsBusyAnExceptionStillReachesTheCallerAsItself()
    {
        // one caller holds the team; a second caller runs on the thread pool, whose Parallel.For wraps exceptions in an
        // AggregateException: the caller must still see the body's own exception (e.g. a cancellation)
        using var started = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var holder = Task.Run(() => SliceIterator.For(2, 2, _ => { started.Set(); release.Wait(TimeSpan.FromSeconds(30)); }));
        try
        {
            Assert.True(started.Wait(TimeSpan.FromSeconds(30)), "the first caller did not start");
            var e = Assert.Throws<OperationCanceledException>(() =>
                SliceIterator.For(100, 2, i => { if (i == 57) throw new OperationCanceledException("row 57"); }));
            Assert.Equal("row 57", e.Message);
        }
        finally
        {
            release.Set();
        }
        await holder.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task ConcurrentAndNestedCallersAllFinishWithTheRightResult()
    {
        // several callers at once (one gets the spinning team, the others the thread pool), each also nesting a call
        var totals = new long[4];
        var tasks = Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            for (int rep = 0; rep < 200; rep++)
            {
                long sum = 0;
                SliceIterator.For(64, 2, i =>
                {
                    long inner = 0;
                    SliceIterator.For(8, 2, k => Interlocked.Add(ref inner, k));
                    Interlocked.Add(ref sum, i + inner);
                });
                totals[t] += sum;
            }
        })).ToArray();
        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(60)); // a deadlock fails with a TimeoutException
        // per call: sum of i over 0..63 (2016) plus 64 x (0 + ... + 7 = 28)
        Assert.All(totals, s => Assert.Equal(200L * (2016 + 64 * 28), s));
    }

    [Fact]
    public void ResultsDoNotDependOnTheThreadCount()
    {
        // per-index partials combined in index order: the same bits at 1 and 2 threads
        var rnd = new Random(3);
        var data = Enumerable.Range(0, 100_000).Select(_ => rnd.NextDouble()).ToArray();
        double Sum(int degree)
        {
            var part = new double[100];
            SliceIterator.For(100, degree, r => { double s = 0; for (int i = r * 1000; i < (r + 1) * 1000; i++) s += data[i] * data[i]; part[r] = s; });
            double total = 0;
            foreach (var p in part) total += p;
            return total;
        }
        Assert.Equal(BitConverter.DoubleToInt64Bits(Sum(1)), BitConverter.DoubleToInt64Bits(Sum(2)));
    }

    [Fact]
    public void AFinishedJobDoesNotKeepItsArraysAlive()
    {
        // the team threads are static: if they kept the last job, its operation's arrays (at 1 mm, pyramid levels of
        // tens of MB) would stay reachable until the next parallel call
        var weak = RunOnAnArray();
        for (int i = 0; i < 3 && weak.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            Thread.Sleep(20);
        }
        Assert.False(weak.IsAlive, "the array of a finished parallel job is still reachable");
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static WeakReference RunOnAnArray()
    {
        var big = new float[1 << 20];
        SliceIterator.Run(64, new Fill(big), 2);
        Assert.Equal(63f, big[^1]);
        return new WeakReference(big);
    }

    private readonly struct Fill(float[] a) : IRowOperation
    {
        public void Invoke(int r)
        {
            int n = a.Length / 64;
            for (int i = r * n; i < (r + 1) * n; i++) a[i] = r;
        }
    }
}
