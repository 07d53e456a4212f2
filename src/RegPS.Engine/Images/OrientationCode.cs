namespace RegPS.Engine.Images;

/// <summary>Axis codes of a grid-to-world matrix, as nibabel's aff2axcodes names them (R/L, A/P, S/I).</summary>
public static class OrientationCode
{
    private static readonly char[] Positive = { 'R', 'A', 'S' };
    private static readonly char[] Negative = { 'L', 'P', 'I' };

    /// <summary>
    /// For each voxel axis, the world axis its column points most along, chosen greedily from the
    /// largest absolute entry so that no two voxel axes claim the same world axis.
    /// </summary>
    public static string FromMatrix(Matrix4 g2w, int dimension = 3)
    {
        var used = new bool[3];
        var code = new char[dimension];
        var assigned = new bool[dimension];
        for (int round = 0; round < dimension; round++)
        {
            double best = -1; int bi = -1, bw = -1;
            for (int i = 0; i < dimension; i++)
            {
                if (assigned[i]) continue;
                for (int w = 0; w < 3; w++)
                {
                    if (used[w]) continue;
                    double v = Math.Abs(g2w[w, i]);
                    if (v > best) { best = v; bi = i; bw = w; }
                }
            }
            assigned[bi] = true; used[bw] = true;
            code[bi] = g2w[bw, bi] >= 0 ? Positive[bw] : Negative[bw];
        }
        return new string(code);
    }
}
