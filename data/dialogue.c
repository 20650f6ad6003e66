/* data/dialogue.c: user turns and persona-conditioned replies for the synthetic corpus.
 *
 * Design. All text lives in static tables: 19 topics, each with three turns (opening,
 * follow-up, closing); each turn has two wordings of the user's line and a pool of five
 * content items for the reply (two alternative key answers, of which one is used, and three
 * supplements, of which n_content - 1 are used in table order, so any draw reads as a
 * coherent answer). An item is either a statement, used as written, or an action (a verb
 * phrase) that a frame turns into an instruction or a suggestion in the reply's register.
 *
 * Table text carries three slots, filled when a sentence is rendered:
 *   @  "you" in Mandarin: 您 in the formal register, 你 otherwise;
 *   #  "we" in Mandarin: 咱们 in the casual register, 我们 otherwise;
 *   ^  an intensifier slot before an adjective or adverb: a drawn intensifier at high energy,
 *      else nothing in English and the plain degree adverb 很 in Mandarin (which grammar
 *      needs there).
 * English tables are written with contractions; the formal register expands them. Energy
 * then sets the end punctuation (docs/corpus-replies.md has every rule). */
#include "data/dialogue.h"

#include <ctype.h>
#include <string.h>

/* ---------------------------------------------------------------- content tables */

enum { SET_ASSISTANT, SET_SUPPORT, SET_IN_CAR, SET_TUTORING, SET_COMPANION, SET_GAME, N_SETTINGS };
static const char *const setting_names[N_SETTINGS] = {"assistant", "support",   "in_car",
                                                      "tutoring",  "companion", "game"};
/* role_id prefixes of the authored archetypes, per setting (narrators have none). */
static const char *const setting_prefix[N_SETTINGS] = {"asst-",  "support-", "car-",
                                                       "tutor-", "comp-",    "game-"};

typedef struct item {
    bool act;         /* an action: a verb phrase framed by register and assertiveness */
    const char *t[2]; /* [lang] */
} item;

typedef struct turn_def {
    const char *user[2][2]; /* [wording][lang] */
    item key[2];            /* alternative key answers: one is used */
    item more[3];           /* supplements: n_content - 1 are used, in this order */
} turn_def;

typedef struct topic_def {
    const char *name;
    int setting;
    const char *stems;        /* space-separated domain stems; "=x" matches the domain x exactly */
    const char *remark[2][2]; /* light remarks [which][lang] */
    turn_def turn[3];
} topic_def;

/* clang-format off */
#define U(en, zh) {en, zh}
#define A(en, zh) {true, {en, zh}}
#define S(en, zh) {false, {en, zh}}
/* clang-format on */

static const topic_def topics[] = {
    /* ------------------------------------------------ assistant */
    {"router_reset",
     SET_ASSISTANT,
     "network wifi router broadband troubleshoot internet smart_home home_automation",
     {U("Turning it off and on again: the oldest trick, and still the best.",
        "关机重启，老办法，可最管用。"),
      U("Routers need a nap sometimes, like the rest of us.",
        "路由器也会累，偶尔也得让它歇一歇。")},
     {{{U("My wifi stopped working. Can you help me?", "家里的无线网突然连不上了，你能帮帮我吗？"),
        U("The internet is down at home, what should I do?", "我家网断了，该怎么办啊？")},
       {A("unplug the router, wait thirty seconds, and plug it back in",
          "把路由器的电源拔掉，等三十秒再插回去"),
        A("hold the power button on the router for five seconds to restart it",
          "按住路由器的电源键五秒钟，让它重启一下")},
       {S("It's a ^simple fix that solves most dropped connections.",
          "这个办法^简单，大多数断网都能解决。"),
        A("check that the cable into the wall socket is clicked in firmly",
          "看看插在墙上网口的那根网线有没有插紧"),
        S("The lights should turn steady green within two minutes.",
          "两分钟之内，指示灯应该会变成常亮的绿色。")}},
      {{U("I restarted it, but the light is still orange.", "重启过了，可指示灯还是橙色的。"),
        U("I did that, and the light is still orange. Now what?",
          "照做了，灯还是橙的，接下来呢？")},
       {A("check the cable from the wall into the grey port marked internet",
          "检查一下从墙上接到路由器灰色网口的那根线"),
        A("check whether your provider has reported an outage in your area",
          "看看宽带运营商有没有发布@那一片的故障通知")},
       {S("An orange light usually means the router can't reach the internet.",
          "橙灯一般表示路由器连不上外网。"),
        A("call your provider and read them the number on the router sticker",
          "给运营商打个电话，报上路由器标签上的编号"),
        S("Once the line is fixed, the light turns green by itself.",
          "线路修好以后，灯会自己变回绿色。")}},
      {{U("Okay, it's green now. Thank you.", "好了，灯变绿了，谢谢你。"),
        U("Great, everything works again. Thanks.", "可以了，网又通了，多谢。")},
       {S("Great, you're back online.", "太好了，网络恢复了。"),
        S("Glad that worked.", "能用了就好。")},
       {A("restart the router once a month to keep it running smoothly",
          "每个月重启一次路由器，让它运行得更稳定"),
        S("If it drops again, the same restart is the first thing to try.",
          "要是再断网，还是先试试重启。"),
        S("Your other devices may take a minute to reconnect on their own.",
          "其他设备可能要过一分钟才会自动连上。")}}}},
    {"meeting_reschedule",
     SET_ASSISTANT,
     "calendar meeting schedul time_zone appointment time_management executive office",
     {U("Meetings multiply when nobody is looking.", "会议这东西，一不留神就变多了。"),
      U("Moving a meeting is the closest thing we have to time travel.",
        "挪会议，大概是最接近时间旅行的事了。")},
     {{{U("Can you move my afternoon meeting to tomorrow?", "能帮我把下午的会挪到明天吗？"),
        U("I need to push my meeting with Sam to tomorrow.", "我跟小王的会得改到明天。")},
       {S("Tomorrow at three is free, so I've moved it there.",
          "明天下午三点有空，我已经把会改过去了。"),
        S("I've moved it to tomorrow at ten, the first free slot.",
          "我把它改到了明天上午十点，那是最早的空档。")},
       {S("Everyone on the invite will get the new time.", "参会的人都会收到新的时间通知。"),
        A("add a short note to the invite explaining the change",
          "在邀请里加一句话，说明一下改期的原因"),
        S("Your afternoon is now clear for focused work.", "@今天下午就空出来了，可以专心做事。")}},
      {{U("Does that clash with anything else tomorrow?", "明天这样安排会不会跟别的事冲突？"),
        U("Is the rest of my day tomorrow still okay?", "那明天其他安排还好吗？")},
       {S("There's one small overlap with your dentist appointment.",
          "跟@明天的牙医预约有一点重叠。"),
        S("It's mostly fine, but lunch gets a bit tight.", "基本没问题，就是午饭时间会有点紧。")},
       {A("shorten the meeting to forty five minutes to leave a gap",
          "把会议缩短到四十五分钟，留出一点空当"),
        S("Everything else tomorrow stays as it was.", "明天其他的安排都不变。"),
        A("block fifteen minutes after it for travel", "在会后留出十五分钟赶路")}},
      {{U("Perfect, send the update. Thanks.", "行，就这么改吧，谢谢。"),
        U("Great, that works for me. Thank you.", "好，这样可以，谢谢你。")},
       {S("Done, the update has gone out.", "好了，更新已经发出去了。"),
        S("All set, your calendar is updated.", "都弄好了，日程已经更新。")},
       {S("I'll remind you ten minutes before it starts.", "开会前十分钟我会提醒@。"),
        A("look out for the confirmation in your inbox", "留意一下邮箱里的确认邮件"),
        S("Your day tomorrow looks ^balanced now.", "@明天的安排现在看起来^合理。")}}}},
    {"dinner_ideas",
     SET_ASSISTANT,
     "cook cuisine recipe meal food baking ingredient kitchen",
     {U("The best recipe is the one with the fewest dishes to wash.",
        "最好的菜谱，就是洗碗最少的那个。"),
      U("Your kitchen, your rules.", "厨房里，@说了算。")},
     {{{U("What can I cook tonight with eggs and tomatoes?",
          "家里只有鸡蛋和西红柿，晚饭做点什么好？"),
        U("I only have eggs and tomatoes. Any dinner ideas?", "用鸡蛋和西红柿能做什么菜？")},
       {S("Tomato and egg stir fry is a ^great choice, and it takes ten minutes.",
          "西红柿炒鸡蛋就^不错，十分钟就能做好。"),
        A("make a tomato and egg stir fry and serve it over rice",
          "做个西红柿炒鸡蛋，浇在米饭上吃")},
       {A("scramble the eggs first and set them aside", "把鸡蛋炒散，盛出来备用"),
        A("cook the tomatoes until they turn soft and juicy", "把西红柿炒到软烂出汁"),
        S("A pinch of sugar brings out the flavour of the tomatoes.",
          "放一小撮糖，西红柿的味道会更鲜。")}},
      {{U("How much salt and sugar should I use?", "盐和糖各放多少合适？"),
        U("What about seasoning? How much salt?", "调味呢？盐要放多少？")},
       {S("About half a teaspoon of salt is enough for two eggs.",
          "两个鸡蛋的话，放小半勺盐就够了。"),
        S("Start with a small pinch of salt and a little sugar.", "先放一小撮盐，再加一点点糖。")},
       {A("taste it before adding more", "加之前先尝一尝"),
        S("You can always add salt, but you can't take it out.", "盐可以再加，放多了可就难办了。"),
        S("A few drops of soy sauce work ^well too.", "滴几滴生抽也^不错。")}},
      {{U("It turned out really well. Thanks.", "做出来挺好吃的，谢谢你。"),
        U("Dinner was lovely, thank you.", "晚饭做好了，味道不错，谢谢。")},
       {S("Wonderful, enjoy your dinner.", "太好了，慢慢享用吧。"),
        S("So glad it turned out well.", "听到这个真高兴。")},
       {S("Next time, a little spring onion on top adds colour.", "下次可以撒点葱花，颜色更好看。"),
        A("save the recipe so you have it next time", "把这个做法记下来，下次就不用再查了"),
        S("Simple home dishes are often ^delicious.", "简单的家常菜，往往^好吃。")}}}},
    /* ------------------------------------------------ support */
    {"billing_question",
     SET_SUPPORT,
     "billing subscription credit_card mobile_plan roaming charge customer_account telecom "
     "banking",
     {U("Bills are the only mail that never gets lost.", "账单这种东西，从来不会寄丢。"),
      U("I promise this bill is more confusing than it is scary.",
        "这账单看着吓人，其实只是绕了点。")},
     {{{U("Why is my bill higher than usual this month?", "这个月的账单怎么比平时高？"),
        U("My bill went up this month. Can you explain why?",
          "我这个月话费变多了，能帮我看看为什么吗？")},
       {S("I see a roaming charge from your trip last week.",
          "我看到上周@出行时产生了一笔漫游费。"),
        S("Your discount ended last month, so the price went back to normal.",
          "@的优惠上个月到期了，所以价格恢复成了原价。")},
       {S("Everything else on the bill is the same as before.", "账单上其他的项目都跟以前一样。"),
        A("open the itemised bill in the app to see each charge",
          "在手机应用里打开账单明细，看看每一笔费用"),
        S("Nothing here looks like fraud.", "这里没有看到可疑的扣费。")}},
      {{U("Can you remove that charge?", "这笔钱能退吗？"),
        U("Is there any way to get that money back?", "这笔费用可以取消吗？")},
       {S("I can refund half of it as a one time goodwill credit.",
          "我可以给@退一半，作为一次性的补偿。"),
        S("I've applied a credit for the full amount to your next bill.",
          "我已经把这笔钱全额抵扣到@下个月的账单里了。")},
       {S("It will show up within three working days.", "三个工作日内就能看到。"),
        A("turn on roaming alerts before your next trip", "下次出行前开通漫游提醒"),
        S("I've also added a note to your account.", "我也在@的账户里做了备注。")}},
      {{U("Okay, that's fair. Thanks for your help.", "好吧，这样可以，谢谢。"),
        U("Alright, that sorts it out. Thank you.", "行，那就这样吧，谢谢你。")},
       {S("You're welcome, it's all sorted.", "不客气，都处理好了。"),
        S("Glad we could fix it.", "能帮@解决就好。")},
       {S("You'll get a confirmation by email shortly.", "稍后@会收到一封确认邮件。"),
        A("keep an eye on the bill next month", "下个月留意一下账单"),
        S("Your reference number is in the email as well.", "处理编号也写在邮件里了。")}}}},
    {"parcel_late",
     SET_SUPPORT,
     "parcel delivery order_tracking shipment logistics shopping ecommerce last_mile",
     {U("Somewhere, a parcel is enjoying a scenic tour.", "@的包裹大概正在路上看风景呢。"),
      U("Parcels do love a bit of suspense.", "包裹总喜欢制造点悬念。")},
     {{{U("My parcel was due yesterday and it still hasn't arrived.",
          "我的快递昨天就该到了，现在还没收到。"),
        U("Where is my order? It should have come yesterday.", "我的订单呢？说好昨天到的。")},
       {S("The tracking shows it reached your local depot today.",
          "物流信息显示，包裹今天已经到了@附近的网点。"),
        S("It was delayed by the weather and is out for delivery now.",
          "因为天气耽误了一下，现在已经在派送了。")},
       {S("It should reach you by six this evening.", "今晚六点前应该能送到。"),
        A("keep your phone nearby in case the driver calls", "把手机放在身边，快递员可能会打电话"),
        S("Sorry about the wait.", "让@久等了。")}},
      {{U("Can they leave it with my neighbour?", "我不在家，能放邻居那儿吗？"),
        U("I won't be home. Can it go next door?", "可以让快递员交给隔壁吗？")},
       {S("Yes, I've added your neighbour as a safe place.",
          "可以，我已经把邻居家设为代收地点了。"),
        S("Done, the driver will try next door if you're out.",
          "好了，@不在家的话，快递员会先问问隔壁。")},
       {A("tell your neighbour to expect it", "跟邻居打个招呼，说有个包裹要到"),
        S("You'll get a photo when it's delivered.", "送到以后，@会收到一张签收照片。"),
        A("use the parcel locker instead if that's easier", "改成去快递柜自取")}},
      {{U("Got it, it just arrived. Thanks.", "收到了，刚送到，谢谢。"),
        U("It's here now. Thank you for checking.", "包裹到了，谢谢你帮我查。")},
       {S("Great, I'm glad it made it.", "太好了，总算到了。"),
        S("Perfect, enjoy your order.", "那就好，祝@用得开心。")},
       {A("check the item for damage before you throw the packaging away",
          "扔包装之前，先检查一下东西有没有磕碰"),
        S("I've closed the delivery case.", "这次的查询我就先关闭了。"),
        S("If anything is wrong with it, I can start a return.",
          "东西要是有问题，我可以帮@办退货。")}}}},
    {"refund_request",
     SET_SUPPORT,
     "refund return warranty consumer complaint chargeback",
     {U("The kettle clearly had other plans.", "这个电水壶大概是想提前退休了。"),
      U("Some gadgets just aren't cut out for the job.", "有些电器就是不想好好上班。")},
     {{{U("The kettle I bought last week stopped working.", "上周买的电水壶已经坏了。"),
        U("My new kettle broke after five days. Can I get a refund?",
          "新买的水壶才用五天就坏了，能退款吗？")},
       {S("Items that break in the first month qualify for a full refund.",
          "买后一个月内出现故障，可以全额退款。"),
        S("You can choose a refund or a replacement, whichever you prefer.",
          "退款或者换新都可以，看@方便。")},
       {A("send a photo of the kettle and the receipt", "把水壶和小票的照片发给我"),
        S("You won't need to pay for return shipping.", "退货运费不用@出。"),
        S("I'll start the request as soon as I have the photo.", "收到照片我就马上提交申请。")}},
      {{U("How long will the refund take?", "退款要多久能到账？"),
        U("When will I get my money back?", "钱什么时候能退回来？")},
       {S("Refunds usually reach your card in three to five working days.",
          "退款一般三到五个工作日回到@的卡上。"),
        S("Once the courier collects the kettle, the refund starts the same day.",
          "快递取件当天，退款流程就会启动。")},
       {S("You'll get an email at each step.", "每一步@都会收到邮件通知。"),
        A("keep the collection slip until the money arrives", "钱到账之前，先把取件单留着"),
        S("Card refunds are ^quick once they're approved.", "审核通过后，退到卡上^快。")}},
      {{U("Okay, I've sent the photo. Thanks.", "好，照片发过去了，谢谢。"),
        U("Alright, that's everything. Thank you.", "行，那就这样，谢谢你。")},
       {S("Got it, your refund is on its way.", "收到了，退款已经在处理了。"),
        S("Thanks, everything is in order.", "谢谢，手续都齐了。")},
       {S("The courier will collect the kettle tomorrow morning.", "快递员明天上午会来取件。"),
        A("pack the kettle in any box you have", "找个纸箱把水壶装好"),
        S("Sorry again about the kettle.", "水壶的事，再次说声抱歉。")}}}},
    {"account_locked",
     SET_SUPPORT,
     "account security identity fraud scam password card_security",
     {U("Being locked out proves the security works, at least.",
        "被锁在门外，至少说明安全措施挺管用。"),
      U("Passwords: impossible to remember, impossible to guess.",
        "密码这东西，自己记不住，别人也猜不着。")},
     {{{U("I'm locked out of my account after too many tries.", "我密码输错太多次，账户被锁了。"),
        U("My account is locked. I can't log in.", "我的账号登不上了，说是被锁定了。")},
       {S("Your account locks for your safety after five wrong tries.",
          "为了安全，连续输错五次，账户就会被锁定。"),
        A("use the forgot password link to unlock it", "点忘记密码的链接来解锁")},
       {S("The lock lifts by itself after thirty minutes.", "三十分钟后会自动解锁。"),
        A("have your phone ready for a verification code", "把手机准备好，接收验证码"),
        S("I'll never ask for your password.", "我永远不会问@要密码。")}},
      {{U("The code isn't arriving on my phone.", "验证码一直没收到。"),
        U("I'm still waiting for the verification code.", "我还在等验证码，怎么还没来？")},
       {A("check that the number ending in four seven is still yours",
          "确认一下尾号四七的那个手机号还在用"),
        S("Codes can take up to two minutes to arrive.", "验证码有时要两分钟左右才到。")},
       {A("look in your spam or blocked messages", "看看短信拦截里有没有"),
        S("I can send it by email instead.", "我也可以改成发到邮箱。"),
        S("Each code is valid for ten minutes.", "每个验证码十分钟内有效。")}},
      {{U("I'm back in. Thanks a lot.", "登进去了，太谢谢了。"),
        U("It worked, I can log in now. Thank you.", "可以了，能登录了，谢谢。")},
       {S("Great, you're back in.", "太好了，@已经登进去了。"),
        S("Good, your account is unlocked.", "好的，账户已经解锁了。")},
       {A("choose a new password you haven't used before", "设一个以前没用过的新密码"),
        A("turn on two step sign in", "开启两步验证"),
        S("Your saved settings are all still there.", "@之前的设置都还在。")}}}},
    /* ------------------------------------------------ in the car */
    {"charging_station",
     SET_IN_CAR,
     "ev_ charging battery energy_management fuel =navigation route_planning electric",
     {U("Even cars need a snack break.", "车也得吃点零食，补补电。"),
      U("Your car is hungrier than you are.", "看来车比@还饿。")},
     {{{U("Find me a charging station on the way.", "帮我找个路上的充电站。"),
        U("The battery is at fifteen percent. Where can I charge?",
          "电量只剩百分之十五了，哪里能充电？")},
       {S("There's a fast charger eight kilometres ahead, at the service area.",
          "前方八公里的服务区有快充桩。"),
        S("The nearest free charger is in the mall car park, four minutes away.",
          "最近的空闲充电桩在商场停车场，开过去四分钟。")},
       {A("take the next exit and follow the blue signs", "从下一个出口下去，跟着蓝色指示牌走"),
        S("You have enough charge to get there ^easily.", "现在的电量开到那里^够用。"),
        S("I've added it to the route.", "我已经把它加进路线了。")}},
      {{U("How long will it take to charge?", "充电要多长时间？"),
        U("How long do I need to wait there?", "在那儿要等多久？")},
       {S("About twenty five minutes gets you to eighty percent.",
          "充到百分之八十大概要二十五分钟。"),
        S("Roughly half an hour gives you enough to get home.", "大约半小时，就够开回家了。")},
       {A("stop charging at eighty percent", "在百分之八十的时候停止充电"),
        S("The last twenty percent always charges more slowly.", "最后百分之二十总是充得比较慢。"),
        A("grab a coffee at the cafe next to the chargers", "去充电桩旁边的咖啡馆喝杯咖啡")}},
      {{U("Okay, I'm plugged in. Thanks.", "好，已经插上充电了，谢谢。"),
        U("Found it, we're charging now. Thank you.", "找到了，正在充电，谢谢你。")},
       {S("Great, charging has started.", "好的，已经开始充电了。"),
        S("Perfect, you're all set.", "很好，都弄好了。")},
       {S("I'll let you know when you reach eighty percent.", "到百分之八十的时候我会提醒@。"),
        S("Your route home is ready when you are.", "回家的路线已经准备好了。"),
        A("stretch your legs for a few minutes", "下车活动活动腿脚")}}}},
    {"traffic_detour",
     SET_IN_CAR,
     "traffic =navigation route commut motorway road_trip urban_driving",
     {U("Traffic jams: the slowest parade in the world.", "堵车，就是全世界最慢的游行。"),
      U("At least the radio still works.", "还好，收音机还能听。")},
     {{{U("There's a jam ahead. Is there a faster way?", "前面堵住了，有没有快一点的路？"),
        U("Traffic has stopped. Can you find another route?", "车全停了，帮我换条路吧。")},
       {S("There's an accident ahead, and the side road saves about ten minutes.",
          "前面出了事故，走辅路能省十分钟左右。"),
        S("I found a route along the river that avoids the jam.",
          "我找到一条沿河的路，可以绕开拥堵。")},
       {A("turn right at the next lights", "在下一个红绿灯右转"),
        S("The new route is two kilometres longer but moves ^freely.",
          "新路线远两公里，但是路上^通畅。"),
        S("I'll keep checking for a better option.", "我会继续帮@留意更好的路线。")}},
      {{U("How long until we get there now?", "那现在还要多久能到？"),
        U("What's our arrival time on this route?", "走这条路几点能到？")},
       {S("You'll arrive at about twenty past six.", "大概六点二十能到。"),
        S("About twenty five minutes, if traffic stays like this.",
          "路况不变的话，大约二十五分钟。")},
       {S("That's fifteen minutes earlier than staying on the main road.",
          "比走主路早了十五分钟。"),
        A("keep to the left lane after the bridge", "过了桥以后靠左车道行驶"),
        A("send your arrival time to the people waiting for you", "把到达时间发给等@的人")}},
      {{U("Great, we made it. Thanks.", "到了，谢谢你。"),
        U("We're here now. Thank you.", "我们到了，多谢。")},
       {S("You've arrived at your destination.", "已到达目的地。"),
        S("Nice driving, we made good time.", "开得不错，时间挺宽裕。")},
       {S("There's parking on the left side of the street.", "街道左边可以停车。"),
        A("check the parking sign before you leave the car", "下车前看看停车标志"),
        S("I've saved the river route for next time.", "沿河那条路我已经帮@存下来了。")}}}},
    {"driver_tired",
     SET_IN_CAR,
     "fatigue road_safety rest_stop long_distance night_driving trucking hours_of_service "
     "defensive_driving",
     {U("Even superheroes take naps.", "超人也要打个盹儿。"),
      U("Your seat is comfy, but let's save the nap for the rest area.",
        "座椅是挺舒服，但打盹儿#留到服务区。")},
     {{{U("I'm getting really sleepy at the wheel.", "我开着开着有点犯困了。"),
        U("I can barely keep my eyes open.", "我眼皮都快睁不开了。")},
       {A("pull into the rest area three kilometres ahead", "去前面三公里的服务区停一下"),
        A("stop at the next safe place and rest for twenty minutes",
          "在下一个安全的地方停车，休息二十分钟")},
       {S("A twenty minute nap helps more than coffee.", "打个二十分钟的盹儿，比喝咖啡管用。"),
        A("open the window for some fresh air until then", "在那之前先开窗透透气"),
        S("Tired driving is as dangerous as drunk driving.", "疲劳驾驶和酒驾一样危险。")}},
      {{U("Is there somewhere to get coffee there?", "服务区有地方买咖啡吗？"),
        U("Can I get something to eat at the rest area?", "那边能吃点东西吗？")},
       {S("Yes, there's a cafe and a small shop, both open all night.",
          "有，有一家咖啡店和一个小超市，通宵营业。"),
        S("There's a noodle place and a coffee machine by the entrance.",
          "入口旁边有面馆，还有咖啡机。")},
       {A("eat something light", "吃点清淡的"),
        S("The toilets are next to the fuel station.", "卫生间在加油站旁边。"),
        S("Parking there is free for up to two hours.", "那里停车两小时内免费。")}},
      {{U("I feel much better after the break. Thanks.", "休息完好多了，谢谢。"),
        U("That nap helped. Let's keep going.", "睡了一会儿，精神多了，走吧。")},
       {S("Good, you sound much more awake.", "好多了，听声音就精神了。"),
        S("Great, let's head back onto the road.", "好，那#出发吧。")},
       {A("take another break in two hours", "两个小时后再休息一次"),
        S("I'll remind you when it's time to stop again.", "该休息的时候我会提醒@。"),
        S("The road ahead is ^clear all the way home.", "回家的路一路^畅通。")}}}},
    /* ------------------------------------------------ tutoring */
    {"maths_homework",
     SET_TUTORING,
     "math fraction number arithmetic word_problem algebra combinatoric probability statistic "
     "dyscalculia",
     {U("Fractions look scary, but they're just pizza in disguise.",
        "分数看着吓人，其实就是切披萨。"),
      U("Maths is just puzzles with better marketing.", "数学嘛，就是换了个名字的智力游戏。")},
     {{{U("How do I add one half and one third?", "二分之一加三分之一怎么算？"),
        U("I'm stuck on adding one half and one third.", "我不会算二分之一加三分之一。")},
       {A("turn both fractions into sixths first", "把两个分数都化成六分之几"),
        S("The trick is to find a common bottom number, which here is six.",
          "关键是找到公分母，这道题是六。")},
       {S("One half is three sixths, and one third is two sixths.",
          "二分之一等于六分之三，三分之一等于六分之二。"),
        A("add the top numbers and keep the six", "把分子相加，分母六不变"),
        S("So the answer is five sixths.", "所以答案是六分之五。")}},
      {{U("Why can't I just add the bottoms too?", "为什么分母不能也加起来？"),
        U("Why does the bottom number stay the same?", "为什么分母不变呢？")},
       {S("The bottom number only names the size of the pieces.", "分母只是说明每一份有多大。"),
        S("Adding the bottoms would change the size of the pieces.",
          "分母一加，每份的大小就变了。")},
       {S("Three sixths plus two sixths is like three slices plus two slices of one pizza.",
          "六分之三加六分之二，就像同一张披萨的三块加两块。"),
        A("draw two bars cut into six pieces to see it", "画两条分成六格的长条，对比着看看"),
        S("It's a ^common question, so you're in good company.", "这个问题^常见，很多人都问过。")}},
      {{U("Oh, I get it now. Thanks.", "哦，我懂了，谢谢。"),
        U("That makes sense. Thank you.", "原来是这样，明白了，谢谢。")},
       {S("Well done, you worked it out.", "真棒，@自己想明白了。"),
        S("Great, that's exactly right.", "对，完全正确。")},
       {A("try one quarter plus one sixth on your own", "自己试试四分之一加六分之一"),
        S("The same method works for any two fractions.", "任何两个分数，都能用这个方法。"),
        S("You're ^ready for the next exercise.", "@已经可以做下一道题了。")}}}},
    {"pronunciation_practice",
     SET_TUTORING,
     "pronunciation english phonetic phonics language speaking conversation ielts pinyin tones "
     "mandarin",
     {U("English spelling was clearly designed by a committee that never met.",
        "声调这东西，连说了一辈子中文的人也会念岔。"),
      U("Even native speakers argue about this one.", "这个音，连播音员都要反复练。")},
     {{{U("How do I say the th sound properly?", "第三声我总是发不好，怎么办？"),
        U("I can never pronounce the th in think.", "三声到底怎么念才对？")},
       {A("put the tip of your tongue lightly between your teeth and blow",
          "先把声音降到最低，再稍微往上扬一点"),
        S("The th sound comes from air passing between your tongue and your teeth.",
          "第三声是先降后升，重点在低的那一段。")},
       {A("say think slowly, holding the first sound", "慢慢念“好”这个字，把低音拉长一点"),
        S("It feels strange at first, which is ^normal.", "刚开始觉得别扭，这^正常。"),
        S("Many learners swap it for an s or a t sound.", "在句子里，三声常常只念前面低的那半。")}},
      {{U("Did that sound right to you?", "我刚才念得对吗？"),
        U("How was that? Was it better?", "这次怎么样，好一点了吗？")},
       {S("That was much closer, and the air came through nicely.", "比刚才好多了，低音出来了。"),
        S("Nearly there, your tongue just needs to come forward a little.",
          "差不多了，就是最后那一下扬得太高了。")},
       {A("record yourself and compare it with a native speaker",
          "把自己的声音录下来，跟标准发音对比一下"),
        A("practise with think, three and thank", "用“你好”“很好”“老虎”这几个词练一练"),
        S("Short daily practice works ^well.", "每天练一小会儿，效果^好。")}},
      {{U("Thanks, I'll keep practising.", "谢谢，我会多练的。"),
        U("Okay, I'll practise that every day. Thank you.", "好，我每天都练一练，谢谢。")},
       {S("Great plan, you're improving ^fast.", "好主意，@进步^快。"),
        S("That's the way, little and often.", "就是这样，少量多次。")},
       {A("come back tomorrow for some full sentences", "明天再来练练整句"),
        S("Your pronunciation is already clearer than last week.", "@的发音已经比上周清楚了。"),
        S("Every learner gets there with practice.", "只要坚持练，谁都能练好。")}}}},
    {"exam_nerves",
     SET_TUTORING,
     "exam study test_prep ielts admission scholarship academic homework",
     {U("Exams are just the universe checking whether you were listening.",
        "考试嘛，就是老天爷抽查一下@有没有认真听课。"),
      U("Your brain knows more than it admits at midnight.",
        "大脑半夜总爱装糊涂，其实它记得不少。")},
     {{{U("My exam is tomorrow and I'm really nervous.", "明天就要考试了，我特别紧张。"),
        U("I have a big test tomorrow and I can't focus.", "明天有个大考，我一点都静不下心。")},
       {A("go over your summary notes once, then stop for the night",
          "把总结笔记过一遍，然后今晚就别学了"),
        S("Feeling nervous means you care, and it often sharpens focus.",
          "紧张说明@在乎，适度的紧张反而能让人更专注。")},
       {S("Cramming late tends to hurt more than it helps.", "熬夜突击，往往得不偿失。"),
        A("pack your bag and pens tonight", "今晚就把文具和书包收拾好"),
        S("A good night of sleep is ^important preparation too.", "睡个好觉也是^重要的准备。")}},
      {{U("What if my mind goes blank in the exam?", "万一考试的时候脑子一片空白怎么办？"),
        U("I'm scared I'll forget everything.", "我怕一进考场全忘了。")},
       {A("breathe in for four counts and out for six, then read the question again",
          "吸气数四下，呼气数六下，然后再读一遍题"),
        S("A blank moment usually passes within a minute.", "脑子空白一般一分钟内就会过去。")},
       {A("start with a question you find easy", "先做一道@觉得简单的题"),
        S("Your memory comes back once you start writing.", "一动笔，记忆就会慢慢回来。"),
        S("Everyone has that fear, and most people do better than they expect.",
          "每个人都有这种担心，大多数人其实考得比预想的好。")}},
      {{U("Okay, I feel calmer now. Thank you.", "好，我感觉平静多了，谢谢。"),
        U("Thanks, I'm going to bed early.", "谢谢，我今晚早点睡。")},
       {S("Good, you've prepared well.", "很好，@已经准备得很充分了。"),
        S("That's a ^wise choice.", "这个决定^明智。")},
       {A("set two alarms so you don't worry about waking up", "定两个闹钟，免得担心起不来"),
        S("You know more than you think.", "@会的比@以为的多。"),
        S("Good luck tomorrow.", "明天加油。")}}}},
    /* ------------------------------------------------ companion */
    {"lonely_tonight",
     SET_COMPANION,
     "relationship peer_support listening homesick self_care lonel wellbeing bereavement "
     "family reminiscence",
     {U("I'm a very good listener, and I never check my phone.", "我是个好听众，还从来不看手机。"),
      U("I'm here all night, and I don't even need snacks.", "我整晚都在，连零食都不用。")},
     {{{U("I feel a bit lonely tonight.", "今晚觉得有点孤单。"),
        U("It's quiet here, and I feel kind of alone.", "家里好安静，我觉得有点寂寞。")},
       {S("I'm glad you reached out, and I'm here to keep you company.",
          "@愿意来找我说说，我很高兴，我在这儿陪着@。"),
        A("tell me a little about your day", "跟我聊聊@今天过得怎么样")},
       {S("Lots of people feel this way in the evenings.", "很多人一到晚上都会有这种感觉。"),
        A("make yourself a warm drink while we talk", "边聊边给自己泡杯热饮"),
        S("We can talk about anything you like.", "想聊什么都可以。")}},
      {{U("Work was long, and nobody really talked to me.", "上班很累，一整天也没人跟我说话。"),
        U("Not much happened. I mostly stayed home.", "也没什么，基本都待在家里。")},
       {S("That sounds like a ^long day without much connection.",
          "听起来这一天挺漫长的，也没什么人说说话。"),
        S("Days like that can feel ^heavy.", "这样的日子，确实让人觉得^沉闷。")},
       {A("message one friend tonight, even just to say hello",
          "今晚给一个朋友发条消息，哪怕只是打个招呼"),
        S("Small chats still count as connection.", "哪怕聊几句，也是一种联系。"),
        A("tell me one small thing that went well today", "说一件今天还不错的小事给我听")}},
      {{U("Thanks for listening. I feel a bit better.", "谢谢你听我说，我好些了。"),
        U("Talking helped. I think I'll sleep now.", "聊完舒服多了，我准备睡了。")},
       {S("I'm really glad talking helped.", "能帮上一点忙，我真的很高兴。"),
        S("Thank you for sharing your evening with me.", "谢谢@愿意跟我分享今晚。")},
       {S("You can come back and talk any time.", "@随时都可以回来找我聊。"),
        A("be gentle with yourself tonight", "今晚对自己好一点"),
        S("Tomorrow is a fresh start.", "明天又是新的一天。")}}}},
    {"cannot_sleep",
     SET_COMPANION,
     "sleep relax breathing meditation mindful body_scan calm",
     {U("Sheep everywhere are tired of being counted.", "全世界的羊都被数累了。"),
      U("Your pillow misses you already.", "枕头都在想@了。")},
     {{{U("I can't fall asleep, and it's two in the morning.", "凌晨两点了，我还是睡不着。"),
        U("I've been lying awake for hours.", "我躺了好几个小时了，就是睡不着。")},
       {A("breathe in slowly for four counts and out for eight", "慢慢吸气数四下，再呼气数八下"),
        S("Lying awake is frustrating, but resting quietly still helps your body.",
          "睡不着很烦，但安静地躺着，身体也在休息。")},
       {A("put your phone face down and dim the screen", "把手机扣过来，屏幕调暗"),
        S("A slow breath tells your body it's safe to rest.", "慢慢地呼吸，会告诉身体可以放松了。"),
        A("relax your shoulders and your jaw", "放松肩膀，也放松下巴")}},
      {{U("My mind keeps racing about tomorrow.", "我脑子停不下来，一直在想明天的事。"),
        U("I keep thinking about everything I have to do.", "满脑子都是要做的事。")},
       {A("write the thoughts on a piece of paper for the morning",
          "把想到的事写在纸上，留到明天再处理"),
        S("A busy mind at night is ^common, especially before a big day.",
          "晚上思绪停不下来^常见，大事前尤其如此。")},
       {S("Nothing needs solving at this hour.", "这个时候，什么事都不用解决。"),
        A("picture a calm place you know ^well", "想象一个@熟悉的、安静的地方"),
        S("Your list will still be there tomorrow.", "那些事明天还会在，不会跑掉。")}},
      {{U("I'm feeling sleepy now. Good night.", "我有点困了，晚安。"),
        U("I think I can sleep now. Thanks.", "好像能睡着了，谢谢。")},
       {S("Good night, sleep well.", "晚安，好好睡。"),
        S("That's lovely to hear, so rest ^well.", "真好，好好休息吧。")},
       {S("I'll be here if you wake up.", "@醒了的话，我还在。"),
        A("keep the lights low", "把灯光调暗一些"),
        S("Tomorrow can wait until the morning.", "明天的事，就留到明天。")}}}},
    {"bad_day_at_work",
     SET_COMPANION,
     "workplace office_life resilience stoic stress career leadership",
     {U("Somewhere out there, a spreadsheet is very sorry.", "那张表格，估计自己也不好意思了。"),
      U("Clearly your boss hasn't seen you on a good day yet.",
        "老板大概还没见识过@状态好的时候。")},
     {{{U("Today at work was awful. I made a big mistake.", "今天上班糟透了，我犯了个大错。"),
        U("I messed up in front of my whole team today.", "我今天在整个团队面前出了丑。")},
       {S("Everyone makes mistakes, and one bad day doesn't define you.",
          "谁都会犯错，一天不顺并不代表什么。"),
        A("tell me what happened, from the start", "从头跟我说说发生了什么")},
       {S("It takes courage to talk about it.", "愿意说出来，本身就需要勇气。"),
        S("Most people forget these moments much faster than we do.",
          "别人往往比我们自己忘得快得多。"),
        A("go easy on yourself for the rest of the evening", "今晚剩下的时间，对自己宽容一点")}},
      {{U("I sent the wrong file to a client.", "我给客户发错了文件。"),
        U("I gave the wrong numbers in a meeting.", "我在会上把数字说错了。")},
       {S("That's fixable, and it happens more often than you'd think.",
          "这是能补救的，这种事比@想的要常见。"),
        A("send a short correction tomorrow morning", "明天一早发个简短的更正")},
       {S("A quick, honest correction usually earns respect.",
          "及时、坦诚地更正，往往更让人信任。"),
        S("No one expects you to be perfect.", "没有人要求@完美。"),
        A("write down what you'll check next time", "把下次要核对的地方写下来")}},
      {{U("You're right. I feel better about it now.", "你说得对，我现在好受多了。"),
        U("Thanks, I'll fix it tomorrow.", "谢谢，我明天就去改。")},
       {S("I'm glad, and you handled it ^well.", "那就好，@处理得挺好。"),
        S("That's a ^solid plan.", "这个计划^靠谱。")},
       {S("Tomorrow will feel lighter.", "明天会轻松一些的。"),
        A("do something you enjoy tonight", "今晚做点自己喜欢的事"),
        S("You learned something today, and that counts.", "今天也算学到了东西，这也很重要。")}}}},
    /* ------------------------------------------------ game */
    {"lost_sword",
     SET_GAME,
     "quest sword weapon blacksmith dragon treasure adventur fantasy jianghu wuxia martial "
     "mercenar",
     {U("A sword that wanders off was never that loyal anyway.", "自己跑丢的剑，本来就不太忠心。"),
      U("Even legendary blades like a little adventure.", "就连传说中的宝剑，也想出门闯一闯。")},
     {{{U("I lost my sword somewhere in the swamp.", "我的剑掉在沼泽里了，该去哪儿找？"),
        U("Have you seen my sword? I dropped it in the swamp.",
          "你见过我的剑吗？我在沼泽里弄丢了。")},
       {A("search the shallow reeds by the old mill", "去老磨坊边水浅的芦苇丛里找找"),
        S("The marsh goblins collect shiny things, so they probably have it.",
          "沼泽里的地精最爱收集亮闪闪的东西，八成是被它们捡走了。")},
       {S("Its blade glows faintly at night, which will help you.",
          "它的剑刃夜里会发出微光，这能帮上@。"),
        A("bring a torch", "带上火把"),
        S("Beware the bog lights, for they lead travellers astray.",
          "小心沼泽里的鬼火，它们会把人引入歧途。")}},
      {{U("I found the goblin camp. How do I get past the guards?",
          "我找到地精营地了，守卫怎么过去？"),
        U("There are goblins guarding it. What now?", "有地精守着，现在怎么办？")},
       {A("wait until the guards change at moonrise and slip past the fence",
          "等月亮升起守卫换岗时，从栅栏边溜过去"),
        A("offer the goblin chief a shiny coin in trade", "拿一枚亮闪闪的金币去跟地精首领交换")},
       {S("Goblins are ^greedy, but they are not brave.", "地精^贪心，可胆子小。"),
        S("Fighting all of them at once would be unwise.", "跟它们硬拼可不是明智之举。"),
        A("keep your hood pulled low", "把兜帽拉低一点")}},
      {{U("I got my sword back. Thank you, friend.", "剑拿回来了，谢谢你，朋友。"),
        U("The sword is mine again. Thanks for the help.", "我的剑回来了，多谢相助。")},
       {S("Well done, adventurer, the swamp is no match for you.",
          "干得漂亮，冒险者，沼泽可难不倒@。"),
        S("A fine recovery, and the blade looks glad to see you.",
          "找得好，这把剑看起来也很想@。")},
       {A("oil the blade before it rusts", "趁没生锈，给剑刃上点油"),
        S("Word of your deed will reach the village by morning.", "天亮前，@的事迹就会传遍村子。"),
        S("Your next quest awaits at the tavern.", "下一个任务在酒馆等着@。")}}}},
    {"potion_brewing",
     SET_GAME,
     "potion alchem herbal magic witch brew spell",
     {U("Try not to taste it to test it. That's how I lost my eyebrows.",
        "别亲口尝来试，我的眉毛就是这么没的。"),
      U("Smells terrible, works wonders.", "闻着难受，效果一流。")},
     {{{U("How do I brew a healing potion?", "治疗药水要怎么熬？"),
        U("I need a healing potion. What goes in it?", "我需要一瓶治疗药水，要放些什么？")},
       {S("You need three silverleaf, one river stone, and clean spring water.",
          "需要三片银叶草、一颗河石，再加上干净的泉水。"),
        A("gather three silverleaf from the hills before sunset", "日落前去山上采三片银叶草")},
       {A("crush the leaves and simmer them for one full minute", "把叶子捣碎，小火熬上整整一分钟"),
        S("The potion turns gold when it's ready.", "药水变成金色，就算熬好了。"),
        S("Never let it boil, or it turns bitter.", "千万别让它沸腾，不然会变苦。")}},
      {{U("It turned green instead of gold. What went wrong?",
          "药水变成绿色了，不是金色，哪儿出错了？"),
        U("My potion is green. Is that bad?", "我的药水是绿的，是不是坏了？")},
       {S("Green means it got too hot.", "变绿说明火太大了。"),
        S("Green means too much silverleaf, but it's still safe.",
          "变绿说明银叶草放多了，不过还是安全的。")},
       {A("add a pinch of river stone dust and stir slowly", "加一小撮河石粉，慢慢搅拌"),
        S("Green potions heal too, just more slowly.", "绿色的药水也能治伤，只是慢一点。"),
        A("let it cool and try again over a lower flame", "等它凉了，用小火重新熬一次")}},
      {{U("It's gold now. Thanks, master.", "变成金色了，谢谢师父。"),
        U("Finally, a gold potion. Thank you.", "终于熬成金色了，谢谢。")},
       {S("Splendid, that's a proper healing potion.", "好极了，这才是正宗的治疗药水。"),
        S("Well brewed, apprentice.", "熬得好，学徒。")},
       {A("store it in a dark bottle", "把它装进深色的瓶子里"),
        S("It keeps its power for a full moon cycle.", "药效能保持一个月圆月缺。"),
        S("Next time we'll try a potion of courage.", "下次#试试勇气药水。")}}}},
    {"riddle_door",
     SET_GAME,
     "riddle puzzle trap logic tomb dungeon escape ruin",
     {U("The door has waited centuries for someone clever, so it can wait a minute more.",
        "这扇门等聪明人等了几百年，不差这一会儿。"),
      U("Old doors do love a bit of drama.", "老门就爱故弄玄虚。")},
     {{{U("A stone door is asking me a riddle. Can you help?", "一扇石门出了个谜语，你能帮我吗？"),
        U("The door won't open unless I answer a riddle.", "这扇门要答对谜语才能开。")},
       {A("read the riddle aloud to me, word for word", "把谜语一字一句念给我听"),
        S("Stone doors in these ruins always ask riddles about time.",
          "这片遗迹里的石门，谜底总和时间有关。")},
       {S("Wrong answers only make the door rumble, so there's no danger.",
          "答错了门只会响一下，没有危险。"),
        A("look for carvings around the frame", "看看门框四周有没有提示性的刻纹"),
        S("Riddles here are ^old, but they play fair.", "这里的谜语^古老，但从不耍赖。")}},
      {{U("It says the more you take, the more you leave behind.",
          "谜语是，你拿得越多，留下的就越多。"),
        U("It asks what you leave behind the more you take.", "它问，什么东西越拿，留下的越多？")},
       {S("The answer is footsteps.", "谜底是脚印。"),
        S("Footsteps, because the more steps you take, the more you leave behind.",
          "是脚印，走的步子越多，留下的脚印就越多。")},
       {A("say the word clearly while touching the centre stone",
          "一边摸着中间那块石头，一边清楚地说出答案"),
        S("The door should slide open to the left.", "门应该会向左滑开。"),
        S("Behind it lies the old armoury.", "门后就是古老的兵器库。")}},
      {{U("It opened. Thanks for the help.", "门开了，谢谢你帮忙。"),
        U("We're through the door. Thank you.", "我们进来了，谢谢。")},
       {S("Splendid, the ruins welcome you.", "太好了，遗迹欢迎@。"),
        S("Clever work, not many get that one.", "真聪明，能答对的人可不多。")},
       {A("watch your step on the old stairs", "下旧台阶时小心脚下"),
        S("There may be more riddles deeper inside.", "再往里走，可能还有更多谜题。"),
        S("Your torch will last another hour.", "@的火把还能烧一个小时。")}}}},
};
enum { N_TOPICS = (int)(sizeof topics / sizeof *topics) };

#undef U
#undef A
#undef S

/* ---------------------------------------------------------------- phrase tables */

enum { N_PARA = 4 }; /* paraphrases per set, language and register */

/* The cue reactions: [set][lang][i]. None holds '^' (so they render without drawing). */
static const char *const reactions[DATA_PHRASES_OPENER][2][N_PARA] = {
    [DATA_PHRASES_COMFORT_SHORT] = {{"Sorry to hear that.", "That sounds rough.", "I hear you.",
                                     "That's not easy."},
                                    {"听到这个挺难受的。", "这确实不容易。", "我明白。",
                                     "辛苦@了。"}},
    [DATA_PHRASES_COMFORT] = {{"I'm sorry that's been hard.",
                               "That sounds really difficult, and it makes sense to feel this way.",
                               "I'm sorry you're going through this.",
                               "That must be hard, and I'm glad you told me."},
                              {"听起来这段时间不容易。", "遇到这种事，心里难受是很正常的。",
                               "真抱歉@正在经历这些。", "这一定不好受，谢谢@愿意告诉我。"}},
    [DATA_PHRASES_COMFORT_MORE] = {{"You're not alone in this, and we'll go at your pace.",
                                    "Whatever you're feeling right now is okay.",
                                    "I'm right here with you.",
                                    "Let's take this gently, one small step at a time."},
                                   {"@不是一个人，我们按@的节奏来。", "@现在有什么感受都没关系。",
                                    "我一直在这儿陪着@。", "#慢慢来，一小步一小步地走。"}},
    [DATA_PHRASES_DEESCALATE] = {{"I'm sorry about this, and I understand why you're frustrated.",
                                  "You have every right to be upset, and I apologise.",
                                  "That shouldn't have happened, and I'm sorry.",
                                  "I'm sorry for the trouble, so let's sort it out together."},
                                 {"非常抱歉，给@添麻烦了，@生气是可以理解的。",
                                  "真的很抱歉，这种情况本不该发生。",
                                  "对不起，让@着急了，#一起把它解决。",
                                  "抱歉让@受委屈了，我先把问题理清楚。"}},
    [DATA_PHRASES_JOKE] = {{"Ha, I like your style!", "Careful, you'll get me laughing too!",
                            "Ha, that's the spirit!", "Laughing already? This is going great!"},
                           {"哈哈，@这心态我喜欢！", "别逗我笑啊，我也要忍不住了！",
                            "哈哈，就是这个精神！", "笑着聊天，事情就成功一半了！"}},
    [DATA_PHRASES_LAUGH_ACK] = {{"Good to hear you laugh.", "I'm glad you're in good spirits.",
                                 "That's a nice laugh.", "Glad to hear some cheer."},
                                {"听到@笑真好。", "@心情不错，真好。", "这笑声真好听。",
                                 "能听到@笑，挺好的。"}},
    [DATA_PHRASES_REASSURE] = {{"Take your time.", "No hurry, I'm listening.",
                                "Take all the time you need.", "It's okay, go at your own pace."},
                               {"不着急，慢慢说。", "没关系，我在听。", "@慢慢想，不用急。",
                                "别急，想到哪儿说到哪儿。"}},
    [DATA_PHRASES_MATCH] = {{"Love the energy!", "That's great to hear!",
                             "You sound excited, and so am I!", "What a great mood to start with!"},
                            {"这劲头我喜欢！", "听着就很开心！", "@这么有兴致，我也来劲了！",
                             "心情这么好，真棒！"}},
    [DATA_PHRASES_BRIEF] = {{"Quick version:", "In short:", "Short answer:", "Briefly:"},
                            {"长话短说：", "简单说：", "直接说重点：", "简单来讲："}},
    [DATA_PHRASES_CALM] = {{"Let's go through this calmly.", "There's no rush here.",
                            "We can take this slowly.", "Nice and easy, then."},
                           {"#慢慢来。", "不赶时间，#从容一点。", "#一步一步来，不用赶。",
                            "好，#稳稳地来。"}},
};

/* Register-dependent sets: [set - DATA_PHRASES_OPENER][register][lang][i]; NULL: none. */
static const char *const reg_sets[3][3][2][N_PARA] = {
    {/* openers: only when there is no reaction clause */
     {{"Sure thing.", "Alright, let's see.", "Okay, cool.", "Gotcha."},
      {"好嘞。", "行，没问题哈。", "没问题，包在我身上啦。", "得嘞，咱们看看。"}},
     {{NULL}, {NULL}},
     {{"Certainly.", "Of course.", "With pleasure.", "I would be glad to help."},
      {"好的，我来为您看看。", "明白了，请您稍等。", "没问题，这就为您说明。",
       "好的，很高兴为您服务。"}}},
    {/* closers: warmth > 0.6, turns 0 and 1 */
     {{"You've got this!", "Shout if you get stuck.", "I'm right here, okay?",
       "Let me know how it goes, yeah?"},
      {"你可以的！", "卡住了就喊我哈。", "我一直在哈。", "有啥情况跟我说一声哈。"}},
     {{"I'm here if you need anything else.", "Hope that helps!", "Let me know how it goes.",
       "Happy to help with the next step too."},
      {"有需要随时找我。", "希望对@有帮助！", "有进展告诉我一声。", "下一步我也可以帮@。"}},
     {{"I hope this helps.", "Please let me know if anything else comes up.",
       "I am glad to assist further if needed.", "Do not hesitate to ask if you need more help."},
      {"希望能帮到您。", "如有其他问题，请随时告诉我。", "还有需要的话，请您随时开口。",
       "请您放心，有我在。"}}},
    {/* farewells: warmth > 0.6, the closing turn */
     {{"See you around!", "Catch you later!", "Take it easy!", "Nice chatting, take care!"},
      {"回头聊！", "拜拜啦！", "有空再来找我玩哈！", "好嘞，回见！"}},
     {{"Take care!", "Have a good one!", "Glad we sorted it out.", "Good luck with everything."},
      {"保重！", "祝@顺利！", "很高兴帮上忙。", "那就先这样，回头见！"}},
     {{"Have a pleasant day.", "It was a pleasure to help you.",
       "Thank you for your patience, and take care.", "Wishing you all the best."},
      {"祝您生活愉快。", "很高兴能为您服务。", "感谢您的耐心，再见。", "祝您一切顺利。"}}},
};

/* Frames for actions: [lang][register][directive][i]; {a} the action, {A} capitalised. */
enum { N_FRAMES = 3 };
static const char *const frames[2][3][2][N_FRAMES] = {
    {/* English */
     {{"Maybe {a}?", "You could {a}, maybe.", "How about you {a}?"},
      {"Just {a}.", "{A}, okay?", "Go ahead, {a}."}},
     {{"You could {a}.", "It might help to {a}.", "I'd suggest you {a}."},
      {"{A}.", "Go ahead and {a}.", "You need to {a}."}},
     {{"You may wish to {a}.", "Perhaps you could {a}.", "It may help to {a}."},
      {"Please {a}.", "I recommend that you {a}.", "I would ask you to {a}."}}},
    {/* Mandarin */
     {{"要不{a}？", "@试试{a}呗。", "可以{a}哈。"}, {"{a}就行。", "直接{a}。", "@就{a}，听我的。"}},
     {{"@可以试试{a}。", "或许可以{a}。", "不妨{a}。"}, {"{a}。", "记得{a}。", "@要{a}。"}},
     {{"您可以试着{a}。", "或许您可以{a}。", "建议您{a}。"},
      {"请{a}。", "请您{a}。", "麻烦您{a}。"}}},
};

static const char *const intensifiers[2][3] = {{"really ", "very ", "super "},
                                               {"特别", "非常", "真的很"}};

/* English contractions the formal register expands (lower-case first letter; the
 * expansion takes the source's case). Table text never uses a possessive 's. */
static const char *const contractions[][2] = {
    {"i'm", "i am"},           {"i'll", "i will"},        {"i've", "i have"},
    {"i'd", "i would"},        {"you're", "you are"},     {"you'll", "you will"},
    {"you've", "you have"},    {"you'd", "you would"},    {"it's", "it is"},
    {"it'll", "it will"},      {"that's", "that is"},     {"that'll", "that will"},
    {"there's", "there is"},   {"here's", "here is"},     {"what's", "what is"},
    {"let's", "let us"},       {"we're", "we are"},       {"we'll", "we will"},
    {"we've", "we have"},      {"they're", "they are"},   {"they'll", "they will"},
    {"don't", "do not"},       {"doesn't", "does not"},   {"didn't", "did not"},
    {"can't", "cannot"},       {"won't", "will not"},     {"isn't", "is not"},
    {"aren't", "are not"},     {"wasn't", "was not"},     {"shouldn't", "should not"},
    {"wouldn't", "would not"}, {"couldn't", "could not"}, {"haven't", "have not"},
    {"hasn't", "has not"},
};

/* Fillers for hesitant user turns (each ends in an ellipsis; the text has no other). */
static const char *const lead_fillers[2][4] = {{"Um...", "Uh...", "Hmm...", "Er..."},
                                               {"嗯……", "呃……", "那个……", "这个……"}};
static const char *const mid_fillers[2][4] = {{"uh...", "um...", "you know...", "I mean..."},
                                              {"那个……", "就是……", "嗯……", "怎么说呢……"}};

/* ---------------------------------------------------------------- text building */

enum { SB_CAP = 4096, CATCH_MAX = 400 };

typedef struct sb {
    char s[SB_CAP];
    size_t n;
} sb;

/* Length of the UTF-8 character at s (1 for ASCII and for broken bytes). */
static size_t utf8_len(const char *s)
{
    unsigned char c = (unsigned char)s[0];
    return c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
}

/* Bytes of s[0..n) that fit in `room` without splitting a UTF-8 character. */
static size_t utf8_fit(const char *s, size_t n, size_t room)
{
    if (n <= room)
        return n;
    while (room > 0 && ((unsigned char)s[room] & 0xC0) == 0x80)
        room--;
    return room;
}

static void sb_putn(sb *b, const char *s, size_t n)
{
    n = utf8_fit(s, n, SB_CAP - 1 - b->n);
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void sb_put(sb *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

static size_t out_copy(const char *s, size_t n, char *buf, size_t cap)
{
    if (cap == 0)
        return 0;
    CORE_ASSERT(buf != NULL);
    n = utf8_fit(s, n, cap - 1);
    memcpy(buf, s, n);
    buf[n] = '\0';
    return n;
}

/* How a sentence is rendered. */
typedef struct rctx {
    int lang, reg, energy;
    core_rng *rng;
} rctx;

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Length of the contraction at s (a word start) and its expansion, or 0. */
static size_t match_contraction(const char *s, const char **expansion)
{
    for (size_t k = 0; k < sizeof contractions / sizeof *contractions; k++) {
        const char *c = contractions[k][0];
        size_t n = strlen(c);
        if (tolower((unsigned char)s[0]) == c[0] && strncmp(s + 1, c + 1, n - 1) == 0 &&
            !is_alpha(s[n])) {
            *expansion = contractions[k][1];
            return n;
        }
    }
    return 0;
}

static bool ends_with(const sb *b, const char *suffix)
{
    size_t n = strlen(suffix);
    return b->n >= n && memcmp(b->s + b->n - n, suffix, n) == 0;
}

/* Renders one sentence into `out` (separated by a space in English): `frame` (may be NULL)
 * with {a}/{A} replaced by `text`, then the other slots, register and energy; `exclaim` turns
 * a final full stop into an exclamation mark (at high energy). */
static void render(sb *out, const rctx *c, const char *frame, const char *text, bool exclaim)
{
    sb raw = {.n = 0}, seg = {.n = 0};
    raw.s[0] = '\0';
    if (!frame) {
        sb_put(&raw, text);
    } else {
        for (const char *f = frame; *f;) {
            if (f[0] == '{' && (f[1] == 'a' || f[1] == 'A') && f[2] == '}') {
                size_t at = raw.n;
                sb_put(&raw, text);
                if (f[1] == 'A' && raw.n > at)
                    raw.s[at] = (char)toupper((unsigned char)raw.s[at]);
                f += 3;
            } else {
                size_t n = utf8_len(f);
                sb_putn(&raw, f, n);
                f += n;
            }
        }
    }
    seg.s[0] = '\0';
    const bool zh = c->lang == DATA_LANG_ZH;
    for (size_t i = 0; i < raw.n;) {
        char ch = raw.s[i];
        const char *expansion;
        size_t len;
        if (ch == '@') {
            sb_put(&seg, c->reg == DATA_REGISTER_FORMAL ? "您" : "你");
            i++;
        } else if (ch == '#') {
            sb_put(&seg, c->reg == DATA_REGISTER_CASUAL ? "咱们" : "我们");
            i++;
        } else if (ch == '^') {
            if (c->energy == DATA_ENERGY_HIGH)
                sb_put(&seg, intensifiers[zh][core_rng_below(c->rng, 3)]);
            else if (zh)
                sb_put(&seg, "很");
            i++;
        } else if (!zh && c->reg == DATA_REGISTER_FORMAL && (i == 0 || !is_alpha(raw.s[i - 1])) &&
                   (len = match_contraction(raw.s + i, &expansion)) > 0) {
            size_t at = seg.n;
            sb_put(&seg, expansion);
            if (isupper((unsigned char)ch) && seg.n > at)
                seg.s[at] = (char)toupper((unsigned char)seg.s[at]);
            i += len;
        } else {
            size_t n = utf8_len(raw.s + i);
            n = n < raw.n - i ? n : raw.n - i;
            sb_putn(&seg, raw.s + i, n);
            i += n;
        }
    }
    if (c->energy == DATA_ENERGY_LOW) {
        /* "!" -> "." and "！" -> "。" (both three bytes in UTF-8) */
        for (size_t i = 0; i < seg.n; i++) {
            if (seg.s[i] == '!') {
                seg.s[i] = '.';
            } else if (i + 2 < seg.n && memcmp(seg.s + i, "！", 3) == 0) {
                memcpy(seg.s + i, "。", 3);
                i += 2;
            }
        }
    } else if (exclaim) {
        if (ends_with(&seg, "."))
            seg.s[seg.n - 1] = '!';
        else if (ends_with(&seg, "。"))
            memcpy(seg.s + seg.n - 3, "！", 3);
    }
    if (!zh && out->n > 0)
        sb_put(out, " ");
    sb_put(out, seg.s);
}

/* ---------------------------------------------------------------- topics */

int data_dialogue_n_topics(void)
{
    return N_TOPICS;
}

const char *data_dialogue_topic_name(int topic)
{
    return topic >= 0 && topic < N_TOPICS ? topics[topic].name : NULL;
}

const char *data_dialogue_topic_setting(int topic)
{
    return topic >= 0 && topic < N_TOPICS ? setting_names[topics[topic].setting] : NULL;
}

/* Whether `domain` matches one of the space-separated stems. */
static bool domain_matches(const char *stems, const char *domain)
{
    if (!domain || !*domain)
        return false;
    for (const char *s = stems; *s;) {
        while (*s == ' ')
            s++;
        const char *e = s;
        while (*e && *e != ' ')
            e++;
        if (e > s) {
            char stem[48];
            bool exact = *s == '=';
            size_t n = (size_t)(e - s) - (exact ? 1 : 0);
            CORE_ASSERT(n < sizeof stem);
            memcpy(stem, s + (exact ? 1 : 0), n);
            stem[n] = '\0';
            if (exact ? strcmp(domain, stem) == 0 : strstr(domain, stem) != NULL)
                return true;
        }
        s = e;
    }
    return false;
}

int data_dialogue_pick_topic(const data_persona_style *p, core_rng *rng)
{
    CORE_ASSERT(rng != NULL);
    int cand[N_TOPICS], n = 0;
    if (p) {
        for (int t = 0; t < N_TOPICS; t++)
            for (int d = 0; d < p->n_domains; d++)
                if (p->domains && domain_matches(topics[t].stems, p->domains[d])) {
                    cand[n++] = t;
                    break;
                }
        if (n == 0 && p->role_id) {
            for (int s = 0; s < N_SETTINGS; s++) {
                if (strncmp(p->role_id, setting_prefix[s], strlen(setting_prefix[s])) != 0)
                    continue;
                for (int t = 0; t < N_TOPICS; t++)
                    if (topics[t].setting == s)
                        cand[n++] = t;
            }
        }
    }
    if (n == 0)
        return (int)core_rng_below(rng, N_TOPICS);
    return cand[core_rng_below(rng, (uint64_t)n)];
}

int data_dialogue_turn_kind(int turn, int n_turns)
{
    if (turn <= 0)
        return 0;
    if (n_turns >= 2 && turn >= n_turns - 1)
        return 2;
    return 1;
}

static const turn_def *turn_of(int topic, int turn)
{
    CORE_ASSERT(topic >= 0 && topic < N_TOPICS);
    CORE_ASSERT(turn >= 0);
    return &topics[topic].turn[turn > 2 ? 2 : turn];
}

/* ---------------------------------------------------------------- user turns */

/* Appends English text with its first letter lower-cased, unless it starts the word "I". */
static void put_lowered(sb *b, const char *s)
{
    size_t at = b->n;
    sb_put(b, s);
    if (b->n > at && !(s[0] == 'I' && !is_alpha(s[1])))
        b->s[at] = (char)tolower((unsigned char)b->s[at]);
}

size_t data_dialogue_user(int lang, int topic, int turn, const data_cue *cue, core_rng *rng,
                          char *buf, size_t cap)
{
    CORE_ASSERT(lang == DATA_LANG_EN || lang == DATA_LANG_ZH);
    CORE_ASSERT(rng != NULL);
    const turn_def *t = turn_of(topic, turn);
    const char *text = t->user[core_rng_below(rng, 2)][lang];
    sb out = {.n = 0};
    out.s[0] = '\0';
    if (!cue || !cue->hesitation) {
        sb_put(&out, text);
        return out_copy(out.s, out.n, buf, cap);
    }
    /* Draws in a fixed order: lead filler, whether a mid filler, which one. */
    const char *lead = lead_fillers[lang][core_rng_below(rng, 4)];
    const bool mid = core_rng_uniform(rng) < 0.5;
    const char *midf = mid_fillers[lang][core_rng_below(rng, 4)];
    /* The mid filler goes after the first comma or sentence end that has words after it. */
    size_t split = 0;
    bool after_sentence = false;
    if (mid) {
        if (lang == DATA_LANG_EN) {
            for (size_t i = 0; text[i] && text[i + 1]; i++)
                if ((text[i] == ',' || text[i] == '.' || text[i] == '?') && text[i + 1] == ' ' &&
                    text[i + 2]) {
                    split = i + 2;
                    after_sentence = text[i] != ',';
                    break;
                }
        } else {
            static const char *const marks[] = {"，", "。", "？"};
            for (size_t i = 0; text[i]; i += utf8_len(text + i)) {
                for (int m = 0; m < 3 && !split; m++)
                    if (strncmp(text + i, marks[m], 3) == 0 && text[i + 3])
                        split = i + 3;
                if (split)
                    break;
            }
        }
    }
    sb_put(&out, lead);
    if (lang == DATA_LANG_EN) {
        sb_put(&out, " ");
        sb first = {.n = 0};
        first.s[0] = '\0';
        sb_putn(&first, text, split ? split : strlen(text));
        put_lowered(&out, first.s);
        if (split) {
            size_t at = out.n;
            sb_put(&out, midf);
            if (after_sentence)
                out.s[at] = (char)toupper((unsigned char)out.s[at]);
            sb_put(&out, " ");
            put_lowered(&out, text + split);
        }
    } else {
        sb_putn(&out, text, split ? split : strlen(text));
        if (split) {
            sb_put(&out, midf);
            sb_put(&out, text + split);
        }
    }
    return out_copy(out.s, out.n, buf, cap);
}

static void rtrim_spaces(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == ' ')
        s[--n] = '\0';
}

int data_dialogue_segments(char *buf, const char **seg, int max)
{
    if (!buf || !seg || max <= 0)
        return 0;
    static const char ell[] = "\xE2\x80\xA6"; /* U+2026 */
    char *r = buf;
    while (*r == ' ')
        r++;
    int n = 0;
    char *from = r; /* where to look for the next filler of the current segment */
    while (*r && n < max) {
        if (n == max - 1) {
            seg[n++] = r;
            rtrim_spaces(r);
            break;
        }
        char *e1 = strstr(from, "..."), *e2 = strstr(from, ell);
        char *e = !e1 ? e2 : !e2 ? e1 : e1 < e2 ? e1 : e2;
        if (!e) {
            seg[n++] = r;
            rtrim_spaces(r);
            break;
        }
        const bool zh = e == e2;
        char *end = e;
        if (zh)
            while (strncmp(end, ell, 3) == 0)
                end += 3;
        else
            while (*end == '.')
                end++;
        char *next = end;
        while (*next == ' ')
            next++;
        if (!*next) { /* a filler at the very end: nothing to pause before */
            seg[n++] = r;
            rtrim_spaces(r);
            break;
        }
        if (next > end) {
            *end = '\0';
        } else if (zh && end - e >= 6) {
            /* No space to overwrite: shorten "……" to "…" to make room for the NUL. */
            end[-3] = '\0';
        } else if (!zh && end - e >= 4) {
            end[-1] = '\0';
        } else {
            from = end; /* cannot split here without losing text: keep going */
            continue;
        }
        seg[n++] = r;
        r = from = next;
    }
    return n;
}

/* ---------------------------------------------------------------- replies */

static float clamp01(float x)
{
    return x > 1 ? 1 : x >= 0 ? x : 0; /* NaN -> 0 */
}

static int register_of(const data_persona_style *p)
{
    float f = clamp01(p->formality);
    return f < 0.4f   ? DATA_REGISTER_CASUAL
           : f > 0.6f ? DATA_REGISTER_FORMAL
                      : DATA_REGISTER_NEUTRAL;
}

static int energy_of(const data_persona_style *p)
{
    float e = clamp01(p->energy);
    return e > 0.7f ? DATA_ENERGY_HIGH : e < 0.3f ? DATA_ENERGY_LOW : DATA_ENERGY_MID;
}

void data_dialogue_plan(const data_persona_style *p, const data_cue *cue, int turn,
                        data_reply_plan *plan)
{
    CORE_ASSERT(p != NULL && plan != NULL);
    data_cue none = {0, false, false, 1};
    if (!cue)
        cue = &none;
    CORE_ASSERT(cue->emotion >= 0 && cue->emotion < 10);
    CORE_ASSERT(cue->speed >= 0 && cue->speed <= 2);
    memset(plan, 0, sizeof *plan);
    const int e = cue->emotion;
    enum { SAD = 4, ANGRY = 5, FEARFUL = 6, HAPPY = 2, EXCITED = 3 };
    plan->reaction_set = -1;
    if (e == SAD || e == FEARFUL) {
        float em = clamp01(p->empathy);
        plan->reaction = DATA_REACT_COMFORT;
        plan->reaction_set = em < 0.4f ? DATA_PHRASES_COMFORT_SHORT : DATA_PHRASES_COMFORT;
        plan->comfort_more = em > 0.7f;
    } else if (e == ANGRY) {
        plan->reaction = DATA_REACT_DEESCALATE;
        plan->reaction_set = DATA_PHRASES_DEESCALATE;
    } else if (cue->laughter) {
        plan->reaction = DATA_REACT_PLAY_ALONG;
        plan->reaction_set =
            clamp01(p->humour) >= 0.5f ? DATA_PHRASES_JOKE : DATA_PHRASES_LAUGH_ACK;
    } else if (cue->hesitation) {
        plan->reaction = DATA_REACT_REASSURE;
        plan->reaction_set = DATA_PHRASES_REASSURE;
    } else if (e == HAPPY || e == EXCITED) {
        plan->reaction = DATA_REACT_MATCH_ENERGY;
        plan->reaction_set = DATA_PHRASES_MATCH;
    } else if (cue->speed == 2) {
        plan->reaction = DATA_REACT_BRIEF;
        plan->reaction_set = DATA_PHRASES_BRIEF;
    } else if (cue->speed == 0) {
        plan->reaction = DATA_REACT_CALM;
        plan->reaction_set = DATA_PHRASES_CALM;
    }
    plan->reg = register_of(p);
    plan->energy = energy_of(p);
    plan->opener = plan->reaction == DATA_REACT_NONE && plan->reg != DATA_REGISTER_NEUTRAL;
    float v = clamp01(p->verbosity);
    plan->n_content = v < 0.34f ? 1 : v < 0.67f ? 2 : 3;
    if (cue->speed == 2 && plan->n_content > 1)
        plan->n_content--;
    plan->directive = clamp01(p->assertiveness) >= 0.5f;
    plan->closer_set =
        clamp01(p->warmth) > 0.6f ? (turn >= 2 ? DATA_PHRASES_FAREWELL : DATA_PHRASES_CLOSER) : -1;
    plan->p_remark = clamp01(p->humour) > 0.7f && plan->reaction != DATA_REACT_COMFORT &&
                             plan->reaction != DATA_REACT_DEESCALATE
                         ? 0.5
                         : 0.0;
    plan->p_catchphrase = (clamp01(p->energy) + clamp01(p->humour)) / 2.0;
}

int data_dialogue_script(const char *text)
{
    if (!text)
        return -1;
    bool ascii = true, han = false, other = false;
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; s[i];) {
        size_t n = utf8_len((const char *)s + i);
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        ascii = false;
        uint32_t cp = 0;
        if (n == 3 && s[i + 1] && s[i + 2])
            cp = ((uint32_t)(s[i] & 0x0F) << 12) | ((uint32_t)(s[i + 1] & 0x3F) << 6) |
                 (uint32_t)(s[i + 2] & 0x3F);
        if ((cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0xAC00 && cp <= 0xD7AF) ||
            (cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0x3130 && cp <= 0x318F))
            other = true; /* kana, Hangul */
        else if ((cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF))
            han = true;
        for (size_t k = 0; k < n && s[i]; k++)
            i++;
    }
    if (ascii)
        return DATA_LANG_EN;
    return han && !other ? DATA_LANG_ZH : -1;
}

/* Appends a catchphrase as written (no register or energy), cleaned of control characters
 * and given end punctuation when it has none. */
static void put_catchphrase(sb *out, int lang, const char *cp)
{
    sb c = {.n = 0};
    c.s[0] = '\0';
    sb_put(&c, cp);
    for (size_t i = 0; i < c.n; i++)
        if ((unsigned char)c.s[i] < 0x20)
            c.s[i] = ' ';
    while (c.n > 0 && c.s[c.n - 1] == ' ')
        c.s[--c.n] = '\0';
    size_t skip = 0;
    while (skip < c.n && c.s[skip] == ' ')
        skip++;
    if (lang == DATA_LANG_EN) {
        char last = c.n ? c.s[c.n - 1] : '\0';
        if (last != '.' && last != '!' && last != '?')
            sb_put(&c, ".");
        if (out->n > 0)
            sb_put(out, " ");
    } else {
        static const char *const ends[] = {"。", "！", "？", "…", "～", "”"};
        bool ended = false;
        for (size_t k = 0; k < sizeof ends / sizeof *ends; k++)
            ended = ended || ends_with(&c, ends[k]);
        if (!ended)
            sb_put(&c, "。");
    }
    sb_put(out, c.s + skip);
}

/* Renders a content item; actions take a frame not yet used in this reply (*used: bit per
 * frame), so two instructions in one reply never share a frame. */
static void put_item(sb *out, const rctx *c, const item *it, bool directive, bool exclaim,
                     unsigned *used)
{
    if (!it->act) {
        render(out, c, NULL, it->t[c->lang], exclaim);
        return;
    }
    int free_frames = 0;
    for (int f = 0; f < N_FRAMES; f++)
        free_frames += !(*used & (1u << f));
    if (free_frames == 0) {
        *used = 0;
        free_frames = N_FRAMES;
    }
    int k = (int)core_rng_below(c->rng, (uint64_t)free_frames), f = 0;
    for (;; f++)
        if (!(*used & (1u << f)) && k-- == 0)
            break;
    *used |= 1u << f;
    render(out, c, frames[c->lang][c->reg][directive][f], it->t[c->lang], exclaim);
}

/* High energy exclaims the first content sentence and the closer, nothing else. */
static bool set_exclaims(int set, int energy)
{
    return energy == DATA_ENERGY_HIGH &&
           (set == DATA_PHRASES_CLOSER || set == DATA_PHRASES_FAREWELL);
}

static const char *phrase_text(int set, int reg, int lang, int i)
{
    if (set < DATA_PHRASES_OPENER)
        return reactions[set][lang][i];
    return reg_sets[set - DATA_PHRASES_OPENER][reg][lang][i];
}

size_t data_dialogue_reply(const data_persona_style *p, const data_cue *cue, int lang, int topic,
                           int turn, core_rng *rng, char *buf, size_t cap)
{
    CORE_ASSERT(p != NULL && rng != NULL);
    CORE_ASSERT(lang == DATA_LANG_EN || lang == DATA_LANG_ZH);
    const turn_def *t = turn_of(topic, turn);
    data_reply_plan pl;
    data_dialogue_plan(p, cue, turn, &pl);
    const rctx c = {lang, pl.reg, pl.energy, rng};
    sb out = {.n = 0};
    out.s[0] = '\0';

    /* The draws, in order: reaction, opener, key answer, supplements, frames and
     * intensifiers as sentences render, remark, catchphrase, closer. */
    if (pl.reaction_set >= 0) {
        render(&out, &c, NULL,
               phrase_text(pl.reaction_set, pl.reg, lang, (int)core_rng_below(rng, N_PARA)), false);
        if (pl.comfort_more)
            render(&out, &c, NULL,
                   phrase_text(DATA_PHRASES_COMFORT_MORE, pl.reg, lang,
                               (int)core_rng_below(rng, N_PARA)),
                   false);
    }
    if (pl.opener)
        render(&out, &c, NULL,
               phrase_text(DATA_PHRASES_OPENER, pl.reg, lang, (int)core_rng_below(rng, N_PARA)),
               false);
    unsigned used_frames = 0;
    put_item(&out, &c, &t->key[core_rng_below(rng, 2)], pl.directive, pl.energy == DATA_ENERGY_HIGH,
             &used_frames);
    /* n_content - 1 of the three supplements, uniformly, kept in table order (selection
     * sampling, reference: Knuth, TAOCP vol. 2, Algorithm S). */
    int need = pl.n_content - 1;
    for (int i = 0; i < 3 && need > 0; i++)
        if ((int)core_rng_below(rng, (uint64_t)(3 - i)) < need) {
            put_item(&out, &c, &t->more[i], pl.directive, false, &used_frames);
            need--;
        }
    if (pl.p_remark > 0 && core_rng_uniform(rng) < pl.p_remark)
        render(&out, &c, NULL, topics[topic].remark[core_rng_below(rng, 2)][lang], false);
    if (p->catchphrases && p->n_catchphrases > 0) {
        int cand[16], m = 0;
        for (int i = 0; i < p->n_catchphrases && m < 16; i++) {
            const char *cp = p->catchphrases[i];
            if (cp && *cp && strlen(cp) <= CATCH_MAX && data_dialogue_script(cp) == lang)
                cand[m++] = i;
        }
        if (m > 0 && core_rng_uniform(rng) < pl.p_catchphrase)
            put_catchphrase(&out, lang, p->catchphrases[cand[core_rng_below(rng, (uint64_t)m)]]);
    }
    if (pl.closer_set >= 0)
        render(&out, &c, NULL,
               phrase_text(pl.closer_set, pl.reg, lang, (int)core_rng_below(rng, N_PARA)),
               set_exclaims(pl.closer_set, pl.energy));
    return out_copy(out.s, out.n, buf, cap);
}

int data_dialogue_phrase_count(const data_persona_style *p, data_phrase_set set, int lang)
{
    CORE_ASSERT(p != NULL && set >= 0 && set < DATA_PHRASES_COUNT);
    CORE_ASSERT(lang == DATA_LANG_EN || lang == DATA_LANG_ZH);
    return phrase_text(set, register_of(p), lang, 0) ? N_PARA : 0;
}

size_t data_dialogue_phrase(const data_persona_style *p, data_phrase_set set, int lang, int i,
                            char *buf, size_t cap)
{
    CORE_ASSERT(i >= 0 && i < data_dialogue_phrase_count(p, set, lang));
    core_rng unused; /* phrase sets have no intensifier slot, so nothing is drawn */
    core_rng_init(&unused, 0, "data.dialogue.phrase");
    const rctx c = {lang, register_of(p), energy_of(p), &unused};
    sb out = {.n = 0};
    out.s[0] = '\0';
    render(&out, &c, NULL, phrase_text(set, c.reg, lang, i), set_exclaims(set, c.energy));
    return out_copy(out.s, out.n, buf, cap);
}

/* Does `s` (n bytes) end with `f`, ASCII letters compared without case? */
static bool ends_with_nocase(const char *s, size_t n, const char *f)
{
    size_t m = strlen(f);
    if (m > n)
        return false;
    for (size_t i = 0; i < m; i++)
        if (tolower((unsigned char)s[n - m + i]) != tolower((unsigned char)f[i]))
            return false;
    return true;
}

size_t data_dialogue_filler_start(const char *seg)
{
    size_t n = strlen(seg), best = n;
    for (int lang = 0; lang < 2; lang++)
        for (int k = 0; k < 4; k++)
            for (int which = 0; which < 2; which++) {
                const char *f = which ? mid_fillers[lang][k] : lead_fillers[lang][k];
                char alt[64];
                snprintf(alt, sizeof alt, "%s", f);
                /* a split Mandarin segment ends in "…", not "……" */
                size_t al = strlen(alt);
                if (al >= 6 && !strcmp(alt + al - 6, "……"))
                    alt[al - 3] = '\0';
                const char *cands[2] = {f, alt};
                for (int c = 0; c < 2; c++)
                    if (ends_with_nocase(seg, n, cands[c]) && n - strlen(cands[c]) < best)
                        best = n - strlen(cands[c]);
            }
    return best;
}
