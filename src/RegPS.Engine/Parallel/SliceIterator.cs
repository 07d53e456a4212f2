namespace RegPS.Engine.Parallel;

/// <summary>Work done for one slice (or one line, or one block) index; a struct so the JIT inlines it.</summary>
internal interface ISliceOperation
{
    void Invoke(int index);
}

/// <summary>
/// The one parallel iterator of the engine. Work items are independent by index, so the result never
/// depends on the thread count; reductions keep one partial per index and are combined in index order by the caller.
/// </summary>
internal static class SliceIterator
{
    public static void Run<T>(int count, T op, int maxDegree) where T : struct, ISliceOperation
    {
        int degree = Parallelism.Resolve(maxDegree);
        if (degree == 1 || count <= 1)
        {
            for (int i = 0; i < count; i++) op.Invoke(i);
            return;
        }
        System.Threading.Tasks.Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = degree }, i => op.Invoke(i));
    }

    /// <summary>Runs <paramref name="body"/> for every index in [0, count) on up to maxDegree threads.</summary>
    public static void For(int count, int maxDegree, Action<int> body)
    {
        int degree = Parallelism.Resolve(maxDegree);
        if (degree == 1 || count <= 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        System.Threading.Tasks.Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = degree }, body);
    }
}

public static class Parallelism
{
    /// <summary>0 or negative means all processors.</summary>
    public static int Resolve(int maxDegree) => maxDegree <= 0 ? Environment.ProcessorCount : maxDegree;
}
