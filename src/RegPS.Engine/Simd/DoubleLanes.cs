using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace RegPS.Engine.Simd;

/// <summary>
/// A group of double lanes with the arithmetic the kernels' formulas use, so a formula is written once as a generic
/// method over TSelf and runs on one double (<see cref="ScalarLane"/>, the scalar loops and tails), two
/// (<see cref="Lanes128"/>, Vector128) or four (<see cref="Lanes256"/>, Vector256). The JIT compiles a generic method
/// separately for each struct argument and inlines these members, so the vector paths get the same instructions as
/// code written on Vector128/Vector256 directly. Every operation is IEEE double arithmetic on each lane (no fused
/// multiply-add, no reassociation), so the three give the same bits lane for lane.
/// A comparison gives a mask of the same type: all bits set in the lanes where it holds, zero elsewhere.
/// The binary operators take their operands by reference (in): a formula's constants, kept as fields of a struct, are
/// then read straight from memory as instruction operands, as in loops written on the vectors directly (passed by
/// value, each was first copied to a register, which cost the 128-bit loops extra loads and spills).
/// </summary>
internal interface IDoubleLanes<TSelf> where TSelf : struct, IDoubleLanes<TSelf>
{
    /// <summary>Every lane set to value.</summary>
    static abstract TSelf Create(double value);

    /// <summary>Every lane +0 (also the all-false mask).</summary>
    static abstract TSelf Zero { get; }

    static abstract TSelf operator +(in TSelf a, in TSelf b);
    static abstract TSelf operator -(in TSelf a, in TSelf b);
    static abstract TSelf operator *(in TSelf a, in TSelf b);
    static abstract TSelf operator /(in TSelf a, in TSelf b);

    /// <summary>The sign bit flipped (so -(+0) is -0, as for a double).</summary>
    static abstract TSelf operator -(TSelf a);

    /// <summary>Bitwise and (of masks, or of a value and a mask: the value where the mask is set, +0 elsewhere).</summary>
    static abstract TSelf operator &(in TSelf a, in TSelf b);

    /// <summary>The mask of the lanes where a &gt; b (false where either is NaN).</summary>
    static abstract TSelf GreaterThan(TSelf a, TSelf b);

    /// <summary>The mask of the lanes where a &lt; b (false where either is NaN).</summary>
    static abstract TSelf LessThan(TSelf a, TSelf b);

    /// <summary>Whether a &gt; b in any lane.</summary>
    static abstract bool GreaterThanAny(TSelf a, TSelf b);

    /// <summary>Correctly rounded square root of each lane.</summary>
    static abstract TSelf Sqrt(TSelf a);

    /// <summary>Per bit: a where mask is set, b elsewhere.</summary>
    static abstract TSelf ConditionalSelect(TSelf mask, TSelf a, TSelf b);

    /// <summary>The sign bit of lane l in bit l (for a mask: bit l set where lane l is true).</summary>
    static abstract uint ExtractMostSignificantBits(TSelf a);
}

/// <summary>One double as a group of one lane (the scalar twin of <see cref="Lanes128"/> and <see cref="Lanes256"/>).</summary>
internal readonly struct ScalarLane(double value) : IDoubleLanes<ScalarLane>
{
    public readonly double Value = value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ScalarLane Mask(bool b) => new(BitConverter.Int64BitsToDouble(b ? -1L : 0L));

    public static ScalarLane Zero
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] get => new(0.0);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ScalarLane Create(double value) => new(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ScalarLane operator +(in ScalarLane a, in ScalarLane b) => new(a.Value + b.Value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ScalarLane operator -(in ScalarLane a, in ScalarLane b) => new(a.Value - b.Value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ScalarLane operator *(in ScalarLane a, in ScalarLane b) => new(a.Value * b.Value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ScalarLane operator /(in ScalarLane a, in ScalarLane b) => new(a.Value / b.Value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ScalarLane operator -(ScalarLane a) => new(-a.Value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane operator &(in ScalarLane a, in ScalarLane b)
        => new(BitConverter.Int64BitsToDouble(BitConverter.DoubleToInt64Bits(a.Value) & BitConverter.DoubleToInt64Bits(b.Value)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ScalarLane GreaterThan(ScalarLane a, ScalarLane b) => Mask(a.Value > b.Value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ScalarLane LessThan(ScalarLane a, ScalarLane b) => Mask(a.Value < b.Value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool GreaterThanAny(ScalarLane a, ScalarLane b) => a.Value > b.Value;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ScalarLane Sqrt(ScalarLane a) => new(Math.Sqrt(a.Value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane ConditionalSelect(ScalarLane mask, ScalarLane a, ScalarLane b)
    {
        long m = BitConverter.DoubleToInt64Bits(mask.Value);
        return new(BitConverter.Int64BitsToDouble((BitConverter.DoubleToInt64Bits(a.Value) & m) | (BitConverter.DoubleToInt64Bits(b.Value) & ~m)));
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint ExtractMostSignificantBits(ScalarLane a) => (uint)((ulong)BitConverter.DoubleToInt64Bits(a.Value) >> 63);
}

/// <summary>Two doubles in a <see cref="Vector128{T}"/> (arm64 NEON, x64 SSE2).</summary>
internal readonly struct Lanes128(Vector128<double> value) : IDoubleLanes<Lanes128>
{
    public readonly Vector128<double> Value = value;

    public static Lanes128 Zero
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] get => new(Vector128<double>.Zero);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128 Create(double value) => new(Vector128.Create(value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128 operator +(in Lanes128 a, in Lanes128 b) => new(a.Value + b.Value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128 operator -(in Lanes128 a, in Lanes128 b) => new(a.Value - b.Value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128 operator *(in Lanes128 a, in Lanes128 b) => new(a.Value * b.Value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128 operator /(in Lanes128 a, in Lanes128 b) => new(a.Value / b.Value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128 operator -(Lanes128 a) => new(-a.Value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128 operator &(in Lanes128 a, in Lanes128 b) => new(a.Value & b.Value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128 GreaterThan(Lanes128 a, Lanes128 b) => new(Vector128.GreaterThan(a.Value, b.Value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128 LessThan(Lanes128 a, Lanes128 b) => new(Vector128.LessThan(a.Value, b.Value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool GreaterThanAny(Lanes128 a, Lanes128 b) => Vector128.GreaterThanAny(a.Value, b.Value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128 Sqrt(Lanes128 a) => new(Vector128.Sqrt(a.Value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes128 ConditionalSelect(Lanes128 mask, Lanes128 a, Lanes128 b) => new(Vector128.ConditionalSelect(mask.Value, a.Value, b.Value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint ExtractMostSignificantBits(Lanes128 a) => a.Value.ExtractMostSignificantBits();
}

/// <summary>Four doubles in a <see cref="Vector256{T}"/> (x64 AVX).</summary>
internal readonly struct Lanes256(Vector256<double> value) : IDoubleLanes<Lanes256>
{
    public readonly Vector256<double> Value = value;

    public static Lanes256 Zero
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] get => new(Vector256<double>.Zero);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 Create(double value) => new(Vector256.Create(value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 operator +(in Lanes256 a, in Lanes256 b) => new(a.Value + b.Value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 operator -(in Lanes256 a, in Lanes256 b) => new(a.Value - b.Value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 operator *(in Lanes256 a, in Lanes256 b) => new(a.Value * b.Value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 operator /(in Lanes256 a, in Lanes256 b) => new(a.Value / b.Value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 operator -(Lanes256 a) => new(-a.Value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 operator &(in Lanes256 a, in Lanes256 b) => new(a.Value & b.Value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 GreaterThan(Lanes256 a, Lanes256 b) => new(Vector256.GreaterThan(a.Value, b.Value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 LessThan(Lanes256 a, Lanes256 b) => new(Vector256.LessThan(a.Value, b.Value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool GreaterThanAny(Lanes256 a, Lanes256 b) => Vector256.GreaterThanAny(a.Value, b.Value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 Sqrt(Lanes256 a) => new(Vector256.Sqrt(a.Value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256 ConditionalSelect(Lanes256 mask, Lanes256 a, Lanes256 b) => new(Vector256.ConditionalSelect(mask.Value, a.Value, b.Value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint ExtractMostSignificantBits(Lanes256 a) => a.Value.ExtractMostSignificantBits();
}
